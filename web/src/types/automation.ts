/**
 * Automation, scene and confirmation documents as the hub reads and writes them
 * (`hearth_model::automation`). The OpenAPI document describes these only as objects
 * (they are tagged unions), so the web app keeps its own copy of their shape here.
 */

export type ComparisonOp = 'eq' | 'ne' | 'gt' | 'lt' | 'between'
export const COMPARISON_OPS: readonly ComparisonOp[] = ['eq', 'ne', 'gt', 'lt', 'between']

export interface Comparison {
  eq?: unknown
  ne?: unknown
  gt?: number
  lt?: number
  between?: [number, number]
}

export type TriggerType = 'reading' | 'event' | 'presence' | 'time' | 'sun' | 'command' | 'manual' | 'webhook'
export const TRIGGER_TYPES: readonly TriggerType[] = ['reading', 'event', 'presence', 'time', 'sun', 'command', 'manual', 'webhook']

export type Trigger =
  | ({ type: 'reading'; device: string; metric: string; hysteresis?: number; for?: number } & Comparison)
  | { type: 'event'; device: string; matches?: Record<string, unknown> }
  | { type: 'presence'; device: string; online: boolean; for?: number }
  | { type: 'time'; cron: string }
  | { type: 'sun'; event: 'sunrise' | 'sunset'; offset_secs?: number }
  | { type: 'command'; device?: string; name?: string; status: string }
  | { type: 'manual' }
  | { type: 'webhook' }

export type ConditionType = 'reading' | 'presence' | 'time' | 'all' | 'any' | 'not'
export const CONDITION_TYPES: readonly ConditionType[] = ['reading', 'presence', 'time', 'all', 'any', 'not']

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun'
export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']

export type Condition =
  | ({ type: 'reading'; device: string; metric: string } & Comparison)
  | { type: 'presence'; device: string; online: boolean }
  | { type: 'time'; after?: string; before?: string; weekdays?: Weekday[] }
  | { type: 'all'; conditions: Condition[] }
  | { type: 'any'; conditions: Condition[] }
  | { type: 'not'; condition: Condition }

export type ActionType = 'command' | 'scene' | 'notify' | 'publish' | 'webhook' | 'delay' | 'wait_for' | 'confirm'
export const ACTION_TYPES: readonly ActionType[] = ['command', 'scene', 'notify', 'publish', 'webhook', 'delay', 'wait_for', 'confirm']

export type Action =
  | { type: 'command'; device: string; name: string; params?: unknown; wait?: boolean; on_failure?: Action[] }
  | { type: 'scene'; scene: string }
  | { type: 'notify'; message: string }
  | { type: 'publish'; topic: string; payload: unknown; retain?: boolean }
  | { type: 'webhook'; url: string; body?: unknown; timeout_secs?: number; retries?: number }
  | { type: 'delay'; seconds: number }
  | { type: 'wait_for'; trigger: Trigger; timeout_secs: number; continue_on_timeout?: boolean }
  | { type: 'confirm'; people?: number; users?: string[]; roles?: string[]; within_secs?: number; prompt?: string }

export type RunMode = 'single' | 'restart' | 'queued' | 'parallel'
export const RUN_MODES: readonly RunMode[] = ['single', 'restart', 'queued', 'parallel']

/** What `POST /automations` takes. */
export interface AutomationSpec {
  group: string
  name: string
  enabled?: boolean
  triggers: Trigger[]
  conditions?: Condition[]
  actions: Action[]
  mode?: RunMode
  max_runs?: number
}

export interface Automation extends AutomationSpec {
  id: string
  created_by: string
  created_at_ms: number
  updated_at_ms: number
  /** Runs that failed in a row, up to the last one; from `FLAGGED_AFTER` the app flags it. */
  failures_in_row?: number
}

/** Failed runs in a row from which an automation is flagged (`Automation::FLAGGED_AFTER`). */
export const FLAGGED_AFTER = 3

/** One run as `GET /automations/{id}/runs` lists it. */
export interface AutomationRun {
  id: string
  automation_id: string
  started_at_ms: number
  finished_at_ms?: number | null
  status: string
  trigger: Record<string, unknown>
  trace: RunTrace
}

export interface RunTrace {
  conditions?: Record<string, unknown>[]
  actions?: Record<string, unknown>[]
  reason?: string
}

export interface SceneTarget {
  device: string
  command: string
  params?: unknown
}

export interface SceneSpec {
  group: string
  name: string
  targets: SceneTarget[]
}

export interface Scene extends SceneSpec {
  id: string
  created_by: string
  created_at_ms: number
  updated_at_ms: number
}

/** `POST /scenes/{id}/apply`'s answer. */
export interface SceneApplyResult {
  scene: string
  result: string
  confirmed: number
  total: number
  devices: Record<string, string>
}

export type ConfirmationState = 'pending' | 'confirmed' | 'refused' | 'expired'

/** A two-person confirmation gate's request (seed 004). */
export interface Confirmation {
  id: string
  group: string
  automation: string
  automation_name: string
  run: string
  prompt?: string | null
  people: number
  within_secs: number
  created_at_ms: number
  expires_at_ms: number
  state: ConfirmationState
  /** Whom the rule asks (empty: every member and above). */
  users?: string[]
  roles?: string[]
  answers?: { user: string; confirm: boolean; at_ms: number }[]
  confirmed_by: string[]
  refused_by: string[]
  eligible: boolean
}

/** What an automation's notify action publishes on `hearth/notifications/{group}`. */
export interface HubNotification {
  automation: string
  run: string
  group: string
  message: string
  at_ms: number
}

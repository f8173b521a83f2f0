/**
 * Alert rules, alerts and their notifications as the hub reads and writes them
 * (`hearth_model::alert`, issue 15). Like automations, the OpenAPI document describes
 * them only as objects (tagged unions), so their shapes are typed here by hand.
 */
import type { Comparison } from './automation'

/** Most severe first: lists and colours follow this order. */
export const SEVERITIES = ['critical', 'major', 'minor', 'warning'] as const
export type Severity = (typeof SEVERITIES)[number]

export const ALERT_STATES = ['open', 'acknowledged', 'cleared'] as const
export type AlertState = (typeof ALERT_STATES)[number]

export const CONDITION_KINDS = ['reading', 'offline', 'event', 'battery', 'command'] as const
export type AlertConditionType = (typeof CONDITION_KINDS)[number]

export type AlertCondition =
  | ({ type: 'reading'; device?: string; metric: string; hysteresis?: number; for?: number } & Comparison)
  | { type: 'offline'; device?: string; for?: number }
  | { type: 'event'; device?: string; matches: Record<string, unknown>; clear_matches?: Record<string, unknown> }
  | { type: 'battery'; device?: string; metric?: string; below: number; hysteresis?: number }
  | { type: 'command'; device?: string; name?: string; status?: ('failed' | 'timeout')[] }

export const CHANNELS = ['in_app', 'email', 'push', 'webhook'] as const
export type Channel = (typeof CHANNELS)[number]

export type ChannelTarget =
  | { channel: 'in_app' }
  | { channel: 'email'; to?: string[] }
  | { channel: 'push' }
  /** `url` with `secret`, or `name` (a webhook defined in hearth.toml). Views say `secret_set` instead of the secret. */
  | { channel: 'webhook'; url?: string; secret?: string; name?: string; secret_set?: boolean }

/** What `POST /alert-rules` takes. */
export interface AlertRuleSpec {
  group: string
  name: string
  enabled?: boolean
  severity: Severity
  condition: AlertCondition
  devices?: string[]
  kind?: string
  app?: string
  message?: string
  cooldown_secs?: number
  notify: ChannelTarget[]
}

export interface AlertRule extends AlertRuleSpec {
  id: string
  created_by: string
  created_at_ms: number
  updated_at_ms: number
}

/** One alert: a rule's condition on one device, from raised to cleared. */
export interface Alert {
  id: string
  rule: string
  rule_name: string
  group: string
  device: string
  severity: Severity
  state: AlertState
  message: string
  value?: unknown
  opened_at_ms: number
  last_seen_at_ms: number
  repeats: number
  notified_at_ms?: number | null
  last_told_at_ms?: number | null
  acknowledged_by?: string | null
  acknowledged_at_ms?: number | null
  cleared_at_ms?: number | null
  /** `auto` when the condition ended, else `user:<name>`. */
  cleared_by?: string | null
}

/** One attempt to deliver a notification. */
export interface NotificationAttempt {
  at_ms: number
  ok: boolean
  status?: number
  error?: string
}

export interface AlertNotification {
  id: string
  channel: string
  /** `opened`, `repeated`, `cleared` or `acknowledged`. */
  event: string
  target: Record<string, unknown>
  /** `pending`, `sent`, `failed` or `dropped`. */
  state: string
  attempts: NotificationAttempt[]
  created_at_ms: number
}

/** `GET /alerts/{id}`. */
export interface AlertDetail extends Alert {
  notifications: AlertNotification[]
}

export interface AlertQuery {
  group?: string
  /** Comma-separated states. */
  state?: string
  severity?: Severity
  device?: string
  rule?: string
  since_ms?: number
  limit?: number
}

/** A person's notification preferences (`GET/PUT /profile/notifications`). */
export interface NotificationPrefs {
  email: boolean
  push: boolean
  in_app: boolean
  /** The lowest severity each channel carries. */
  severities: { email: Severity; push: Severity; in_app: Severity }
  /** HH:MM to HH:MM in the group's time zone; critical alerts ignore them. */
  quiet_hours?: { start: string; end: string }
  /** `en` or `zh-CN`; unset: the account's language. */
  language?: string
}

/** A browser where the person enabled Web Push. */
export interface PushSubscriptionView {
  id: string
  endpoint: string
  created_at_ms: number
}

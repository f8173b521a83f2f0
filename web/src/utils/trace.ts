/**
 * A run's record as short lines for the run history: what triggered it, each condition
 * with the value it saw, each action with its result and duration. The hub writes the
 * trace (`hearth-services` `automations/engine`); these read it without trusting its
 * shape, since older runs and newer engines may carry other fields.
 */
import type { AutomationRun } from '@/types/automation'
import { formatLooseValue } from './automation'

type Entry = Record<string, unknown>

const text = (value: unknown): string => (value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value))

/** "reading hall-motion motion = true", "manual by admin", "presence door-lock offline". */
export function describeTrigger(trigger: Entry | null | undefined): string {
  if (!trigger) return ''
  const type = text(trigger.type)
  switch (type) {
    case 'reading':
      return `reading ${text(trigger.device)} ${text(trigger.metric)} = ${formatLooseValue(trigger.value)}`
    case 'event':
      return `event ${text(trigger.device)} ${text(trigger.event)}`.trim()
    case 'presence':
      return `presence ${text(trigger.device)} ${trigger.online === true ? 'online' : trigger.online === false ? 'offline' : text(trigger.seen)}`.trim()
    case 'command':
      return `command ${[trigger.device, trigger.name, trigger.status].map(text).filter(Boolean).join(' ')}`
    case 'manual':
      return trigger.by ? `manual by ${text(trigger.by)}` : 'manual'
    case 'time':
      return `time ${text(trigger.cron)}`.trim()
    case 'sun': {
      const offset = typeof trigger.offset_secs === 'number' && trigger.offset_secs ? ` ${trigger.offset_secs > 0 ? '+' : ''}${trigger.offset_secs} s` : ''
      return `sun ${text(trigger.event)}${offset}`.trim()
    }
    case 'webhook':
      return 'webhook'
    default:
      return type || JSON.stringify(trigger)
  }
}

export interface ConditionLine {
  path: string
  text: string
  passed: boolean
}

/** One condition the engine evaluated: what it looked at and the value it saw. */
export function describeCondition(entry: Entry): ConditionLine {
  const type = text(entry.type)
  let line: string
  switch (type) {
    case 'reading':
      line = `${text(entry.device)} ${text(entry.metric)}: ${entry.seen === undefined || entry.seen === null ? '—' : formatLooseValue(entry.seen)}`
      break
    case 'presence':
      line = `${text(entry.device)}: ${text(entry.seen)}`
      break
    case 'time': {
      const offset = typeof entry.utc_offset_minutes === 'number' ? ` UTC${offsetText(entry.utc_offset_minutes)}` : ''
      const zone = entry.time_zone ? ` ${text(entry.time_zone)}` : offset
      line = `${text(entry.seen)} ${text(entry.weekday)}${zone}`.trim()
      break
    }
    default:
      line = JSON.stringify(entry)
  }
  return { path: text(entry.path), text: `${type} ${line}`.trim(), passed: entry.passed === true }
}

/** Results that mean the action did not do what it should. */
const FAILED_RESULTS = new Set(['failed', 'timeout', 'timed out', 'refused', 'expired', 'error'])

export interface ActionLine {
  index: number | null
  type: string
  text: string
  result: string
  ok: boolean
  durationMs: number | null
}

/** One action the run took: what it did, the result, and how long it took. */
export function describeAction(entry: Entry): ActionLine {
  const type = text(entry.type)
  let what: string
  switch (type) {
    case 'command':
      what = `${text(entry.device)} ${text(entry.name)}`
      break
    case 'scene':
      what = text(entry.scene)
      break
    case 'notify':
      what = `“${text(entry.message)}”`
      break
    case 'delay':
      what = `${text(entry.seconds)} s`
      break
    case 'publish':
      what = text(entry.topic)
      break
    case 'webhook':
      what = text(entry.url)
      break
    case 'confirm': {
      const confirmedBy = Array.isArray(entry.confirmed_by) ? entry.confirmed_by.map(text) : []
      const people = typeof entry.people === 'number' ? `/${entry.people}` : ''
      what = `${confirmedBy.length}${people}${confirmedBy.length ? ` (${confirmedBy.join(', ')})` : ''}`
      break
    }
    case 'wait_for':
      what = entry.seen ? describeTrigger(entry.seen as Entry) : entry.timeout_secs !== undefined ? `${text(entry.timeout_secs)} s` : ''
      break
    default:
      what = ''
  }
  const result = text(entry.result)
  const error = entry.error ? `: ${text(entry.error)}` : ''
  return {
    index: typeof entry.index === 'number' ? entry.index : null,
    type,
    text: `${type} ${what}`.trim(),
    result: `${result}${error}`,
    ok: !entry.error && !FAILED_RESULTS.has(result),
    durationMs: typeof entry.duration_ms === 'number' ? entry.duration_ms : null,
  }
}

/** `+02:00`, `-05:30`: a UTC offset in minutes as people write it. */
export function offsetText(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+'
  const abs = Math.abs(minutes)
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}

/** How long a run took, if it has finished. */
export function runDurationMs(run: Pick<AutomationRun, 'started_at_ms' | 'finished_at_ms'>): number | null {
  return run.finished_at_ms ? Math.max(0, run.finished_at_ms - run.started_at_ms) : null
}

/** "850 ms", "2.5 s", "3 min 5 s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0).replace(/\.0$/, '')} s`
  const minutes = Math.floor(ms / 60_000)
  const seconds = Math.round((ms % 60_000) / 1000)
  return seconds ? `${minutes} min ${seconds} s` : `${minutes} min`
}

/** The run's lines, for the history's expanded row. */
export function traceLines(run: AutomationRun): { conditions: ConditionLine[]; actions: ActionLine[]; reason: string } {
  const trace = run.trace ?? {}
  return {
    conditions: (trace.conditions ?? []).map(describeCondition),
    actions: (trace.actions ?? []).map(describeAction),
    reason: typeof trace.reason === 'string' ? trace.reason : '',
  }
}

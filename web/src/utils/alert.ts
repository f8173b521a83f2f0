/**
 * Alerts' plain logic, apart from the components so that it is tested on its own:
 * severity order and colours, which of two copies of an alert is the later one (the API
 * and the live topic may bring them in either order), and the rule editor's document
 * (new conditions and targets, the device selection, the clean document for the hub,
 * the JSON view's text).
 */
import {
  ALERT_STATES, SEVERITIES,
  type Alert, type AlertCondition, type AlertConditionType, type AlertRule, type AlertRuleSpec, type Channel, type ChannelTarget, type Severity,
} from '@/types/alert'
import { jsonCopy } from './automation'

/** 0 for critical, up to 3 for warning; unknown severities last. */
export function severityRank(severity: string): number {
  const rank = (SEVERITIES as readonly string[]).indexOf(severity)
  return rank < 0 ? SEVERITIES.length : rank
}

/** Most severe first, then newest first. */
export function compareAlerts(a: Alert, b: Alert): number {
  return severityRank(a.severity) - severityRank(b.severity) || b.opened_at_ms - a.opened_at_ms
}

/** Critical red, major orange, minor yellow, warning grey. */
export const SEVERITY_COLORS: Record<Severity, { color: string; textColor: string }> = {
  critical: { color: '#d03050', textColor: '#ffffff' },
  major: { color: '#f0782a', textColor: '#ffffff' },
  minor: { color: '#f2c94c', textColor: '#3a2e00' },
  warning: { color: '#9e9e9e', textColor: '#ffffff' },
}

export function severityColor(severity: string): { color: string; textColor: string } {
  return SEVERITY_COLORS[severity as Severity] ?? SEVERITY_COLORS.warning
}

/** An alert still needs someone: open or acknowledged (not cleared). */
export const isActive = (alert: Pick<Alert, 'state'>) => alert.state !== 'cleared'

const stateRank = (state: string) => (ALERT_STATES as readonly string[]).indexOf(state)

/**
 * Whether `next` is a later copy of the alert than `known`. An alert only moves forward
 * (open, acknowledged, cleared); within a state its repeats and times only grow. So an
 * answer from the API that left before a live update and arrives after it does not undo it.
 */
export function isLaterCopy(next: Alert, known: Alert): boolean {
  const byState = stateRank(next.state) - stateRank(known.state)
  if (byState !== 0) return byState > 0
  if (next.repeats !== known.repeats) return next.repeats > known.repeats
  const stamp = (alert: Alert) => Math.max(alert.last_seen_at_ms ?? 0, alert.notified_at_ms ?? 0, alert.acknowledged_at_ms ?? 0, alert.cleared_at_ms ?? 0)
  return stamp(next) >= stamp(known)
}

/** Merges `next` into `alerts` (by id); true when it changed something. */
export function mergeAlert(alerts: Record<string, Alert>, next: Alert): boolean {
  const known = alerts[next.id]
  if (known && !isLaterCopy(next, known)) return false
  alerts[next.id] = next
  return true
}

/** Checks a message from `hearth/alerts/{group}` enough to merge it. */
export function parseAlertMessage(payload: string): Alert | null {
  let value: unknown
  try {
    value = JSON.parse(payload)
  } catch {
    return null
  }
  const alert = value as Alert
  if (!alert || typeof alert !== 'object' || typeof alert.id !== 'string' || typeof alert.group !== 'string'
    || !(ALERT_STATES as readonly string[]).includes(alert.state) || typeof alert.opened_at_ms !== 'number') return null
  alert.repeats ??= 0
  return alert
}

/** Who cleared it: `auto` (the condition ended) or the person's name. */
export function clearedBy(alert: Pick<Alert, 'cleared_by'>): string | null {
  const by = alert.cleared_by
  if (!by) return null
  return by.startsWith('user:') ? by.slice('user:'.length) : by
}

// The rule editor's document.

export function blankAlertCondition(type: AlertConditionType, device?: string): AlertCondition {
  const on = device !== undefined ? { device } : {}
  switch (type) {
    case 'reading': return { type, ...on, metric: '', gt: 0 }
    case 'offline': return { type, ...on, for: 300 }
    case 'event': return { type, ...on, matches: {} }
    case 'battery': return { type, ...on, below: 20 }
    case 'command': return { type, ...on, status: ['failed', 'timeout'] }
  }
}

export function blankTarget(channel: Channel): ChannelTarget {
  switch (channel) {
    case 'in_app': return { channel }
    case 'email': return { channel, to: [] }
    case 'push': return { channel }
    case 'webhook': return { channel, url: '', secret: '' }
  }
}

export function newRuleDocument(group: string): AlertRuleSpec {
  return {
    group, name: '', enabled: true, severity: 'major',
    condition: blankAlertCondition('reading', ''),
    message: '', cooldown_secs: 900,
    notify: [{ channel: 'in_app' }],
  }
}

/** The fields of a rule document (`hearth_model::AlertRuleSpec`); the hub refuses others. */
export const RULE_KEYS = ['group', 'name', 'enabled', 'severity', 'condition', 'devices', 'kind', 'app', 'message', 'cooldown_secs', 'notify'] as const

/**
 * A stored rule's document, a copy the editor may change: only the document's fields,
 * and a webhook's `secret_set` dropped (sent without its secret, the hub keeps the one
 * it has for that URL).
 */
export function ruleDocumentOf(rule: AlertRule): AlertRuleSpec {
  const copy = jsonCopy(rule) as unknown as Record<string, unknown>
  const document = Object.fromEntries(RULE_KEYS.filter((key) => copy[key] !== undefined).map((key) => [key, copy[key]])) as unknown as AlertRuleSpec
  document.notify = (document.notify ?? []).map((target) => {
    if (target.channel !== 'webhook') return target
    const { secret_set: _set, ...rest } = target
    return rest
  })
  return document
}

/** Whether a stored webhook target had a secret (the editor says "stored; leave empty to keep"). */
export function webhookSecretSet(target: ChannelTarget): boolean {
  return target.channel === 'webhook' && target.secret_set === true
}

/** Keys whose values are the person's own JSON, kept as they are. */
const VALUE_KEYS = new Set(['eq', 'ne', 'matches', 'clear_matches'])

function clean(value: unknown, key: string | null): unknown {
  if (key !== null && VALUE_KEYS.has(key)) return value
  if (Array.isArray(value)) return value.map((item) => clean(item, null)).filter((item) => item !== '')
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [childKey, child] of Object.entries(value as Record<string, unknown>)) {
      if (child === null || child === undefined || child === '') continue
      if (typeof child === 'number' && Number.isNaN(child)) continue
      if (childKey === 'secret_set') continue
      const cleaned = clean(child, childKey)
      // Empty optional lists (devices, an e-mail's `to`) mean "not set"; `notify` stays.
      if (Array.isArray(cleaned) && cleaned.length === 0 && childKey !== 'notify') continue
      out[childKey] = cleaned
    }
    return out
  }
  return typeof value === 'string' ? value.trim() : value
}

/** The document as the hub should get it: no nulls, no empty texts or optional lists. */
export function cleanRuleDocument(document: AlertRuleSpec): AlertRuleSpec {
  return clean(document, null) as AlertRuleSpec
}

/** The JSON view's text for a document. */
export function ruleText(document: AlertRuleSpec): string {
  return JSON.stringify(cleanRuleDocument(document), null, 2)
}

export type ParsedRule = { document: AlertRuleSpec; error?: undefined } | { document?: undefined; error: string }

/** The JSON view's text as a rule document, or why it is not one (the hub checks the rest). */
export function parseRuleText(text: string): ParsedRule {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return { error: (error as Error).message }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { error: 'the document must be a JSON object' }
  const document = value as Record<string, unknown>
  if (typeof document.name !== 'string') return { error: 'name: must be a text' }
  if (typeof document.group !== 'string') return { error: 'group: must be a text' }
  const condition = document.condition as { type?: unknown } | undefined
  if (!condition || typeof condition !== 'object' || typeof condition.type !== 'string') return { error: 'condition: must be an object with a "type"' }
  if (document.notify !== undefined && !Array.isArray(document.notify)) return { error: 'notify: must be a list' }
  const notify = (document.notify ?? []) as unknown[]
  const bad = notify.findIndex((item) => !item || typeof item !== 'object' || typeof (item as { channel?: unknown }).channel !== 'string')
  if (bad >= 0) return { error: `notify[${bad}]: must be an object with a "channel"` }
  return { document: { severity: 'warning', ...document, notify } as unknown as AlertRuleSpec }
}

/** Which devices a rule watches: the condition's one device, a list, a kind, an application, or all of the group. */
export const SELECTIONS = ['one', 'list', 'kind', 'app', 'all'] as const
export type DeviceSelection = (typeof SELECTIONS)[number]

export function selectionOf(document: AlertRuleSpec): DeviceSelection {
  if (document.condition.device !== undefined) return 'one'
  if (document.devices !== undefined) return 'list'
  if (document.kind !== undefined) return 'kind'
  if (document.app !== undefined) return 'app'
  return 'all'
}

/** Switches the selection, keeping what still fits (the one device into the list, the list's first as the one). */
export function setSelection(document: AlertRuleSpec, selection: DeviceSelection): void {
  const one = document.condition.device
  const list = document.devices
  delete document.condition.device
  delete document.devices
  delete document.kind
  delete document.app
  if (selection === 'one') document.condition.device = one ?? list?.[0] ?? ''
  else if (selection === 'list') document.devices = list ?? (one ? [one] : [])
  else if (selection === 'kind') document.kind = ''
  else if (selection === 'app') document.app = ''
}

/** The template's place-holders, for the editor's hint. */
export const TEMPLATE_NAMES = ['{device}', '{device_name}', '{metric}', '{value}', '{rule}', '{severity}'] as const

/** A rule's condition in one line (`temperature > 60 for 30 s`, `smoke-1 event {"smoke":true}`). */
export function describeCondition(condition: AlertCondition): string {
  const on = condition.device ? `${condition.device} ` : ''
  switch (condition.type) {
    case 'reading': {
      const test = condition.gt !== undefined ? `> ${condition.gt}`
        : condition.lt !== undefined ? `< ${condition.lt}`
          : condition.between ? `${condition.between[0]}..${condition.between[1]}`
            : condition.ne !== undefined ? `≠ ${JSON.stringify(condition.ne)}` : `= ${JSON.stringify(condition.eq)}`
      return `${on}${condition.metric} ${test}${condition.for ? ` for ${condition.for} s` : ''}`
    }
    case 'offline': return `${on}offline${condition.for ? ` for ${condition.for} s` : ''}`
    case 'event': return `${on}event ${JSON.stringify(condition.matches)}`
    case 'battery': return `${on}${condition.metric ?? 'battery'} < ${condition.below} %`
    case 'command': return `${on}command ${condition.name ?? '*'} ${(condition.status ?? ['failed', 'timeout']).join('/')}`
  }
}

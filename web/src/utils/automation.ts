/**
 * The automation editor's document logic, apart from the components so that it is
 * tested on its own: the form and the JSON view edit one `AutomationSpec`; these
 * functions make new items, read and set a reading's comparison, clean the document
 * for the hub (no nulls or empty optional fields: the hub refuses unknown and
 * mistyped fields) and parse the JSON view's text.
 */
import type {
  Action, ActionType, Automation, AutomationSpec, Comparison, ComparisonOp, Condition, ConditionType, Trigger, TriggerType,
} from '@/types/automation'
import { COMPARISON_OPS } from '@/types/automation'

export function blankTrigger(type: TriggerType, device = ''): Trigger {
  switch (type) {
    case 'reading': return { type, device, metric: '', eq: true }
    case 'event': return { type, device, matches: {} }
    case 'presence': return { type, device, online: true }
    case 'time': return { type, cron: '0 7 * * *' }
    case 'sun': return { type, event: 'sunset', offset_secs: 0 }
    case 'command': return { type, device, status: 'failed' }
    case 'manual': return { type }
    case 'webhook': return { type }
  }
}

export function blankCondition(type: ConditionType, device = ''): Condition {
  switch (type) {
    case 'reading': return { type, device, metric: '', eq: true }
    case 'presence': return { type, device, online: true }
    case 'time': return { type, after: '20:00', before: '06:00' }
    case 'all': return { type, conditions: [] }
    case 'any': return { type, conditions: [] }
    case 'not': return { type, condition: blankCondition('presence', device) }
  }
}

export function blankAction(type: ActionType, device = ''): Action {
  switch (type) {
    case 'command': return { type, device, name: 'switch', params: { on: true }, wait: true }
    case 'scene': return { type, scene: '' }
    case 'notify': return { type, message: '' }
    case 'publish': return { type, topic: device ? `devices/${device}/commands/` : '', payload: {}, retain: false }
    case 'webhook': return { type, url: '', timeout_secs: 10, retries: 0 }
    case 'delay': return { type, seconds: 30 }
    case 'wait_for': return { type, trigger: blankTrigger('presence', device), timeout_secs: 60, continue_on_timeout: false }
    case 'confirm': return { type, people: 2, within_secs: 35, prompt: '' }
  }
}

/** A new automation for `group`: one reading trigger, one command action. */
export function newDocument(group: string): AutomationSpec {
  return {
    group,
    name: '',
    enabled: true,
    triggers: [blankTrigger('reading')],
    conditions: [],
    actions: [blankAction('command')],
    mode: 'single',
  }
}

/**
 * A stored automation's document (what PUT takes back), a copy the editor may change.
 * A JSON copy: documents are JSON, and the store's objects are reactive proxies, which
 * `structuredClone` refuses.
 */
export function documentOf(automation: Automation): AutomationSpec {
  // Only the document's own fields: the hub adds others (`id`, `failures_in_row`…) and
  // refuses any field it does not know in a document.
  const copy = jsonCopy(automation) as unknown as Record<string, unknown>
  return Object.fromEntries(DOCUMENT_KEYS.filter((key) => copy[key] !== undefined).map((key) => [key, copy[key]])) as unknown as AutomationSpec
}

/** The fields of an automation document (`hearth_model::AutomationSpec`). */
export const DOCUMENT_KEYS = ['group', 'name', 'enabled', 'triggers', 'conditions', 'actions', 'mode', 'max_runs'] as const

export function jsonCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/** Which comparison a reading trigger or condition makes (`eq` when none is set yet). */
export function comparisonOp(item: Comparison): ComparisonOp {
  return COMPARISON_OPS.find((op) => item[op] !== undefined) ?? 'eq'
}

/** Sets the comparison to `op` (one at a time), keeping the value when it still fits. */
export function setComparisonOp(item: Comparison, op: ComparisonOp): void {
  const previous = comparisonOp(item)
  const value = item[previous]
  for (const other of COMPARISON_OPS) delete item[other]
  if (op === 'between') {
    item.between = typeof value === 'number' ? [value, value] : [0, 0]
  } else if (op === 'gt' || op === 'lt') {
    item[op] = typeof value === 'number' ? value : Array.isArray(value) ? Number(value[0]) : 0
  } else {
    item[op] = previous === 'between' && Array.isArray(value) ? value[0] : value ?? true
  }
}

/**
 * A value typed in a form field for `eq`/`ne`: `true`, `21.5`, `null`, `{"a":1}` or
 * `"quoted"` as JSON, anything else as the text itself.
 */
export function parseLooseValue(text: string): unknown {
  const trimmed = text.trim()
  if (trimmed === '') return ''
  try {
    return JSON.parse(trimmed)
  } catch {
    return text
  }
}

/** The inverse of `parseLooseValue`: text that reads back as the same value. */
export function formatLooseValue(value: unknown): string {
  if (value === undefined) return ''
  if (typeof value === 'string') {
    // A string that would read back as something else keeps its quotes.
    return parseLooseValue(value) === value ? value : JSON.stringify(value)
  }
  return JSON.stringify(value)
}

/** Keys whose values are the person's own data: kept as they are, nulls included. */
const VALUE_KEYS = new Set(['params', 'payload', 'matches', 'body', 'eq', 'ne'])
/** Optional texts: an empty one means "not set". */
const OPTIONAL_TEXT = new Set(['after', 'before', 'prompt'])
/** Optional lists: an empty one means "not set". */
const OPTIONAL_LISTS = new Set(['weekdays', 'users', 'roles', 'on_failure'])

function cleanValue(value: unknown, key: string | null): unknown {
  if (key !== null && VALUE_KEYS.has(key)) return value
  if (Array.isArray(value)) return value.map((item) => cleanValue(item, null))
  if (value && typeof value === 'object') {
    const source = value as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const [childKey, child] of Object.entries(source)) {
      if (child === null || child === undefined) continue
      if (typeof child === 'number' && Number.isNaN(child)) continue
      // A command trigger's device and name are optional (any device, any command).
      const optionalText = OPTIONAL_TEXT.has(childKey) || (source.type === 'command' && 'status' in source)
      if (child === '' && optionalText) continue
      if (Array.isArray(child) && child.length === 0 && OPTIONAL_LISTS.has(childKey)) continue
      out[childKey] = cleanValue(child, childKey)
    }
    return out
  }
  return value
}

/** The document as the hub should get it: no nulls, no empty optional fields. */
export function cleanDocument<T>(document: T): T {
  return cleanValue(document, null) as T
}

/** The JSON view's text for a document. */
export function documentText(document: AutomationSpec): string {
  return JSON.stringify(cleanDocument(document), null, 2)
}

export type ParsedDocument = { document: AutomationSpec; error?: undefined } | { document?: undefined; error: string }

/**
 * The JSON view's text as a document, or why it is not one: the JSON's own syntax
 * error, or the first top-level field of the wrong kind. The hub checks the rest and
 * names the field it refuses.
 */
export function parseDocumentText(text: string): ParsedDocument {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return { error: (error as Error).message }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { error: 'the document must be a JSON object' }
  const document = value as Record<string, unknown>
  for (const key of ['triggers', 'actions'] as const) {
    if (!Array.isArray(document[key])) return { error: `${key}: must be a list` }
  }
  if (document.conditions !== undefined && !Array.isArray(document.conditions)) return { error: 'conditions: must be a list' }
  for (const key of ['triggers', 'conditions', 'actions'] as const) {
    const items = (document[key] ?? []) as unknown[]
    const index = items.findIndex((item) => !item || typeof item !== 'object' || typeof (item as { type?: unknown }).type !== 'string')
    if (index >= 0) return { error: `${key}[${index}]: must be an object with a "type"` }
  }
  if (typeof document.name !== 'string') return { error: 'name: must be a text' }
  if (typeof document.group !== 'string') return { error: 'group: must be a text' }
  return { document: document as unknown as AutomationSpec }
}

/**
 * Whether the hub's error `field` (`triggers[0].metric`, `conditions[0].conditions[1]`)
 * is about the item at `path` itself (`triggers[0]`), not about an item inside it.
 */
export function fieldBelongsTo(field: string | null | undefined, path: string): boolean {
  if (!field) return false
  if (field === path) return true
  if (!field.startsWith(path)) return false
  const rest = field.slice(path.length)
  return rest.startsWith('.') && !rest.includes('[')
}

/** The key of `field` below `path` (`metric` for `triggers[0].metric` under `triggers[0]`). */
export function fieldKey(field: string | null | undefined, path: string): string | null {
  if (!fieldBelongsTo(field, path) || field === path) return null
  return field!.slice(path.length + 1).split('.')[0]
}

/** The hub's message without the field it may already start with (`actions[0]: invalid…`). */
export function withoutField(field: string, message: string): string {
  return message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message
}

// The automation editor's document logic: the form and the JSON view edit one document.
import { describe, expect, it } from 'vitest'
import { reactive } from 'vue'
import type { AutomationSpec, Comparison } from '@/types/automation'
import { ACTION_TYPES, CONDITION_TYPES, TRIGGER_TYPES } from '@/types/automation'
import {
  blankAction, blankCondition, blankTrigger, cleanDocument, comparisonOp, documentOf, documentText, fieldBelongsTo, fieldKey,
  formatLooseValue, newDocument, parseDocumentText, parseLooseValue, setComparisonOp, withoutField,
} from '@/utils/automation'

/** The example, as the form builds it. */
const EXAMPLE: AutomationSpec = {
  group: 'home',
  name: 'Hall light on motion after dark',
  enabled: true,
  triggers: [{ type: 'reading', device: 'hall-motion', metric: 'motion', eq: true }],
  conditions: [{ type: 'time', after: '20:00', before: '06:00' }],
  actions: [{ type: 'command', device: 'hall-lamp', name: 'switch', params: { on: true }, wait: true }],
  mode: 'single',
}

describe('form ↔ JSON', () => {
  it('the JSON view shows the form\'s document and reads back the same document', () => {
    const text = documentText(EXAMPLE)
    expect(JSON.parse(text)).toEqual(EXAMPLE)
    const parsed = parseDocumentText(text)
    expect(parsed.error).toBeUndefined()
    expect(parsed.document).toEqual(EXAMPLE)
    expect(documentText(parsed.document!)).toBe(text)
  })

  it('the JSON view drops what the form leaves empty (the hub reads null as unset), and keeps the person\'s own values', () => {
    const document: AutomationSpec = {
      ...EXAMPLE,
      max_runs: undefined,
      triggers: [
        { type: 'reading', device: 'hall-motion', metric: 'motion', eq: null, hysteresis: undefined, for: undefined },
        { type: 'command', device: '', name: '', status: 'failed' },
      ],
      conditions: [{ type: 'time', after: '', before: '06:00', weekdays: [] }],
      actions: [
        { type: 'command', device: 'hall-lamp', name: 'switch', params: { on: null }, on_failure: [] },
        { type: 'confirm', people: 2, within_secs: 35, prompt: '', users: [], roles: [] },
      ],
    }
    expect(cleanDocument(document)).toEqual({
      ...EXAMPLE,
      triggers: [{ type: 'reading', device: 'hall-motion', metric: 'motion' }, { type: 'command', status: 'failed' }],
      conditions: [{ type: 'time', before: '06:00' }],
      actions: [
        { type: 'command', device: 'hall-lamp', name: 'switch', params: { on: null } },
        { type: 'confirm', people: 2, within_secs: 35 },
      ],
    })
  })

  it('refuses text that is not a document, naming what is wrong', () => {
    expect(parseDocumentText('{"name": ').error).toBeTruthy()
    expect(parseDocumentText('[]').error).toMatch(/object/)
    expect(parseDocumentText('{"group": "home", "name": "x", "triggers": {}, "actions": []}').error).toMatch(/^triggers/)
    expect(parseDocumentText('{"group": "home", "name": "x", "triggers": [], "actions": [], "conditions": 3}').error).toMatch(/^conditions/)
    expect(parseDocumentText('{"group": "home", "name": "x", "triggers": [{"device": "a"}], "actions": []}').error).toMatch(/^triggers\[0\]/)
    expect(parseDocumentText('{"group": "home", "triggers": [], "actions": []}').error).toMatch(/^name/)
  })

  it('a stored automation\'s document leaves out what the hub adds', () => {
    const stored = { ...EXAMPLE, id: 'a-1', created_by: 'admin', created_at_ms: 1, updated_at_ms: 2, failures_in_row: 0 }
    expect(documentOf(stored)).toEqual(EXAMPLE)
    expect(stored.id).toBe('a-1')
    // The store's automations are reactive proxies, which structuredClone refuses.
    const copy = documentOf(reactive(stored))
    copy.triggers.push({ type: 'manual' })
    expect(stored.triggers).toHaveLength(1)
  })

  it('every kind has a blank the hub reads', () => {
    for (const type of TRIGGER_TYPES) expect(blankTrigger(type, 'lamp').type).toBe(type)
    for (const type of CONDITION_TYPES) expect(blankCondition(type, 'lamp').type).toBe(type)
    for (const type of ACTION_TYPES) expect(blankAction(type, 'lamp').type).toBe(type)
    expect(blankTrigger('reading', 'lamp')).toMatchObject({ device: 'lamp' })
    expect(blankAction('confirm')).toEqual({ type: 'confirm', people: 2, within_secs: 35, prompt: '' })
    const fresh = newDocument('home')
    expect(fresh.group).toBe('home')
    expect(parseDocumentText(documentText(fresh)).error).toBeUndefined()
  })
})

describe('a reading\'s comparison', () => {
  it('is one operator at a time, keeping the value when it fits', () => {
    const item: Comparison = { eq: true }
    expect(comparisonOp(item)).toBe('eq')
    setComparisonOp(item, 'ne')
    expect(item).toEqual({ ne: true })
    setComparisonOp(item, 'gt')
    expect(item).toEqual({ gt: 0 })
    item.gt = 30
    setComparisonOp(item, 'between')
    expect(item).toEqual({ between: [30, 30] })
    setComparisonOp(item, 'lt')
    expect(item).toEqual({ lt: 30 })
    setComparisonOp(item, 'eq')
    expect(item).toEqual({ eq: 30 })
    expect(comparisonOp({})).toBe('eq')
    expect(comparisonOp({ between: [1, 2] })).toBe('between')
  })

  it('values typed for eq/ne read as JSON when they are, else as text', () => {
    expect(parseLooseValue('true')).toBe(true)
    expect(parseLooseValue(' 21.5 ')).toBe(21.5)
    expect(parseLooseValue('open')).toBe('open')
    expect(parseLooseValue('"true"')).toBe('true')
    expect(parseLooseValue('{"a": 1}')).toEqual({ a: 1 })
    for (const value of [true, 21.5, 'open', 'true', '42', { a: 1 }, null]) {
      expect(parseLooseValue(formatLooseValue(value))).toEqual(value)
    }
    expect(formatLooseValue('open')).toBe('open')
    expect(formatLooseValue('true')).toBe('"true"')
  })
})

describe('the hub\'s refused field', () => {
  it('belongs to the item it names, not to the items around it', () => {
    expect(fieldBelongsTo('triggers[0].metric', 'triggers[0]')).toBe(true)
    expect(fieldBelongsTo('triggers[0]', 'triggers[0]')).toBe(true)
    expect(fieldBelongsTo('triggers[10].metric', 'triggers[1]')).toBe(false)
    expect(fieldBelongsTo('conditions[0].conditions[1].device', 'conditions[0]')).toBe(false)
    expect(fieldBelongsTo('conditions[0].conditions[1].device', 'conditions[0].conditions[1]')).toBe(true)
    expect(fieldBelongsTo('actions[0].on_failure[0].message', 'actions[0].on_failure[0]')).toBe(true)
    expect(fieldBelongsTo(undefined, 'triggers[0]')).toBe(false)
    expect(fieldKey('triggers[0].metric', 'triggers[0]')).toBe('metric')
    expect(fieldKey('triggers[0]', 'triggers[0]')).toBeNull()
    expect(withoutField('actions[0]', 'actions[0]: invalid device id ""')).toBe('invalid device id ""')
    expect(withoutField('name', 'must not be empty')).toBe('must not be empty')
  })
})

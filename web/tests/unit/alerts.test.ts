// Alerts (issue 15): severity order and colours, which copy of an alert wins, the live
// store's merge of updates from the topic and the API, and the rule document.
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { Alert, AlertRule } from '@/types/alert'

vi.mock('@/api/alerts', () => ({
  fetchAlerts: vi.fn(async () => []),
  fetchAlert: vi.fn(),
  acknowledgeAlert: vi.fn(),
  clearAlert: vi.fn(),
}))

const api = await import('@/api/alerts')
const { useAlertStore } = await import('@/stores/alerts')
const { useAuthStore } = await import('@/stores/auth')
const utils = await import('@/utils/alert')

const alert = (patch: Partial<Alert> = {}): Alert => ({
  id: 'al-1', rule: 'ar-1', rule_name: 'Smoke', group: 'home', device: 'smoke-1', severity: 'critical', state: 'open',
  message: 'smoke-1 smoke', opened_at_ms: 1_000, last_seen_at_ms: 1_000, repeats: 0, ...patch,
})

describe('severity', () => {
  it('orders critical, major, minor, warning, and alerts by severity then newest', () => {
    expect(['warning', 'critical', 'minor', 'major'].sort((a, b) => utils.severityRank(a) - utils.severityRank(b)))
      .toEqual(['critical', 'major', 'minor', 'warning'])
    expect(utils.severityRank('bogus')).toBe(4)
    const list = [alert({ id: 'a', severity: 'minor', opened_at_ms: 5 }), alert({ id: 'b', severity: 'critical', opened_at_ms: 1 }), alert({ id: 'c', severity: 'critical', opened_at_ms: 9 })]
    expect(list.sort(utils.compareAlerts).map((item) => item.id)).toEqual(['c', 'b', 'a'])
  })

  it('colours critical red, major orange, minor yellow, warning grey', () => {
    expect(utils.severityColor('critical').color).toBe('#d03050')
    expect(utils.severityColor('major').color).toBe('#f0782a')
    expect(utils.severityColor('minor').color).toBe('#f2c94c')
    expect(utils.severityColor('warning').color).toBe('#9e9e9e')
    expect(utils.severityColor('unknown')).toEqual(utils.SEVERITY_COLORS.warning)
  })
})

describe('merging copies of an alert', () => {
  it('keeps the later copy whichever arrives last', () => {
    const open = alert()
    const repeated = alert({ repeats: 2, last_seen_at_ms: 3_000 })
    const acknowledged = alert({ state: 'acknowledged', acknowledged_by: 'bob', acknowledged_at_ms: 4_000 })
    const cleared = alert({ state: 'cleared', cleared_by: 'auto', cleared_at_ms: 5_000 })
    const byId: Record<string, Alert> = {}
    expect(utils.mergeAlert(byId, acknowledged)).toBe(true)
    expect(utils.mergeAlert(byId, open)).toBe(false)
    expect(utils.mergeAlert(byId, repeated)).toBe(false)
    expect(byId['al-1'].state).toBe('acknowledged')
    expect(utils.mergeAlert(byId, cleared)).toBe(true)
    expect(byId['al-1']).toEqual(cleared)
    expect(utils.isLaterCopy(repeated, open)).toBe(true)
    expect(utils.isLaterCopy(open, repeated)).toBe(false)
  })

  it('reads a topic message only when it is an alert', () => {
    expect(utils.parseAlertMessage('not json')).toBeNull()
    expect(utils.parseAlertMessage('{"id": "x"}')).toBeNull()
    expect(utils.parseAlertMessage(JSON.stringify({ ...alert(), state: 'bogus' }))).toBeNull()
    const { repeats: _r, ...withoutRepeats } = alert()
    expect(utils.parseAlertMessage(JSON.stringify(withoutRepeats))?.repeats).toBe(0)
  })

  it('names who cleared it', () => {
    expect(utils.clearedBy({ cleared_by: 'user:bob' })).toBe('bob')
    expect(utils.clearedBy({ cleared_by: 'auto' })).toBe('auto')
    expect(utils.clearedBy({})).toBeNull()
  })
})

describe('the alert store', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    vi.mocked(api.fetchAlerts).mockReset()
    vi.mocked(api.fetchAlert).mockReset()
  })

  it('counts open alerts for the badge and lists active critical ones, live', () => {
    const store = useAlertStore()
    store.applyMessage(JSON.stringify(alert()))
    store.applyMessage(JSON.stringify(alert({ id: 'al-2', severity: 'minor' })))
    expect(store.openCount).toBe(2)
    expect(store.criticalActive.map((item) => item.id)).toEqual(['al-1'])
    store.applyMessage(JSON.stringify(alert({ state: 'acknowledged', acknowledged_by: 'bob', acknowledged_at_ms: 2_000 })))
    expect(store.openCount).toBe(1)
    expect(store.criticalActive.map((item) => item.state)).toEqual(['acknowledged'])
    store.applyMessage(JSON.stringify(alert({ state: 'cleared', cleared_by: 'user:bob', cleared_at_ms: 3_000 })))
    expect(store.criticalActive).toEqual([])
    expect(store.active.map((item) => item.id)).toEqual(['al-2'])
    store.applyMessage('garbage')
    expect(store.all).toHaveLength(2)
  })

  it('an API answer older than a live update does not undo it; an alert that ended while offline is asked for', async () => {
    const store = useAlertStore()
    store.applyMessage(JSON.stringify(alert({ id: 'gone' })))
    store.applyMessage(JSON.stringify(alert({ state: 'acknowledged', acknowledged_by: 'bob', acknowledged_at_ms: 2_000 })))
    vi.mocked(api.fetchAlerts).mockResolvedValueOnce([alert()])
    vi.mocked(api.fetchAlert).mockResolvedValueOnce({ ...alert({ id: 'gone', state: 'cleared', cleared_by: 'auto', cleared_at_ms: 9 }), notifications: [] })
    await store.loadActive()
    expect(api.fetchAlerts).toHaveBeenCalledWith({ state: 'open,acknowledged', limit: 500 })
    expect(store.byId['al-1'].state).toBe('acknowledged')
    expect(store.byId.gone.state).toBe('cleared')
    expect(store.loaded).toBe(true)
  })

  it('acknowledges through the API and takes its answer; members act, viewers do not', async () => {
    const store = useAlertStore()
    const auth = useAuthStore()
    auth.groups = [{ id: 'home', name: 'Home', my_role: 'member' }, { id: 'cabin', name: 'Cabin', my_role: 'viewer' }] as never
    expect(store.canAct('home')).toBe(true)
    expect(store.canAct('cabin')).toBe(false)
    store.applyMessage(JSON.stringify(alert()))
    vi.mocked(api.acknowledgeAlert).mockResolvedValueOnce(alert({ state: 'acknowledged', acknowledged_by: 'bob', acknowledged_at_ms: 2_000 }))
    await store.acknowledge('al-1')
    expect(store.byId['al-1'].acknowledged_by).toBe('bob')
    expect(store.busy['al-1']).toBe(false)
  })
})

const ISSUE_EXAMPLE = {
  group: 'home', name: 'Freezer too warm', severity: 'major',
  condition: { type: 'reading', device: 'freezer', metric: 'temperature', gt: 60 },
  cooldown_secs: 900,
  notify: [{ channel: 'webhook', url: 'http://127.0.0.1:9000/hook', secret: 's3cret' }],
} as const

describe('the rule document', () => {
  it('is the issue\'s example through the JSON view and back', () => {
    const parsed = utils.parseRuleText(JSON.stringify(ISSUE_EXAMPLE))
    expect(parsed.error).toBeUndefined()
    expect(JSON.parse(utils.ruleText(parsed.document!))).toEqual(ISSUE_EXAMPLE)
  })

  it('takes only the document\'s fields from a stored rule, and no secret_set', () => {
    const stored = {
      ...ISSUE_EXAMPLE, id: 'ar-1', created_by: 'admin', created_at_ms: 1, updated_at_ms: 2, enabled: true,
      notify: [{ channel: 'webhook', url: 'http://127.0.0.1:9000/hook', secret_set: true }, { channel: 'in_app' }],
    } as unknown as AlertRule
    const document = utils.ruleDocumentOf(stored)
    expect(Object.keys(document).sort()).toEqual(['condition', 'cooldown_secs', 'enabled', 'group', 'name', 'notify', 'severity'])
    expect(document.notify).toEqual([{ channel: 'webhook', url: 'http://127.0.0.1:9000/hook' }, { channel: 'in_app' }])
    // The editor's copy is its own.
    document.condition.device = 'other'
    expect(stored.condition.device).toBe('freezer')
  })

  it('sends no empty optional fields, but keeps the person\'s JSON values as they are', () => {
    const document = utils.newRuleDocument('home')
    document.name = ' Smoke '
    document.condition = { type: 'event', device: 'smoke-1', matches: { smoke: true, note: '' }, clear_matches: { smoke: false } }
    document.devices = []
    document.notify.push({ channel: 'email', to: [] }, { channel: 'webhook', url: 'http://x/hook', secret: '' })
    expect(utils.cleanRuleDocument(document)).toEqual({
      group: 'home', name: 'Smoke', enabled: true, severity: 'major', cooldown_secs: 900,
      condition: { type: 'event', device: 'smoke-1', matches: { smoke: true, note: '' }, clear_matches: { smoke: false } },
      notify: [{ channel: 'in_app' }, { channel: 'email' }, { channel: 'webhook', url: 'http://x/hook' }],
    })
  })

  it('says why a text is not a rule', () => {
    expect(utils.parseRuleText('{').error).toBeTruthy()
    expect(utils.parseRuleText('[]').error).toMatch(/object/)
    expect(utils.parseRuleText('{"group": "home", "name": "x"}').error).toMatch(/^condition/)
    expect(utils.parseRuleText('{"group": "home", "name": "x", "condition": {"type": "offline"}, "notify": [1]}').error).toMatch(/^notify\[0\]/)
  })

  it('switches the device selection, keeping what fits', () => {
    const document = utils.newRuleDocument('home')
    document.condition.device = 'freezer'
    expect(utils.selectionOf(document)).toBe('one')
    utils.setSelection(document, 'list')
    expect(document.devices).toEqual(['freezer'])
    expect(document.condition.device).toBeUndefined()
    utils.setSelection(document, 'one')
    expect(document.condition.device).toBe('freezer')
    utils.setSelection(document, 'kind')
    expect(utils.selectionOf(document)).toBe('kind')
    utils.setSelection(document, 'all')
    expect(utils.selectionOf(document)).toBe('all')
    expect(utils.cleanRuleDocument(document)).not.toHaveProperty('kind')
  })

  it('describes conditions in one line', () => {
    expect(utils.describeCondition({ type: 'reading', device: 'freezer', metric: 'temperature', gt: 60, for: 30 })).toBe('freezer temperature > 60 for 30 s')
    expect(utils.describeCondition({ type: 'event', device: 'smoke-1', matches: { smoke: true } })).toBe('smoke-1 event {"smoke":true}')
    expect(utils.describeCondition({ type: 'battery', below: 20 })).toBe('battery < 20 %')
  })
})

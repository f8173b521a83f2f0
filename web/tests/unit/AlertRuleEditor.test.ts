// The alert rule editor mounted: a stored rule in the form and the JSON view (secrets
// never shown; a webhook keeps its stored secret), and a refused field on its form item.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '@/api/http'
import { i18n } from '@/locales'
import { useAlertRuleStore } from '@/stores/alertRules'
import { useAuthStore } from '@/stores/auth'
import { useDeviceStore } from '@/stores/devices'
import type { AlertRule } from '@/types/alert'
import type { Device } from '@/types/models'
import AlertRuleEditor from '@/views/alerts/modules/AlertRuleEditor.vue'

const RULE: AlertRule = {
  id: 'ar-1', created_by: 'admin', created_at_ms: 1, updated_at_ms: 1,
  group: 'home', name: 'Smoke in the kitchen', enabled: true, severity: 'critical',
  condition: { type: 'event', device: 'smoke-1', matches: { smoke: true }, clear_matches: { smoke: false } },
  cooldown_secs: 900,
  notify: [{ channel: 'in_app' }, { channel: 'webhook', url: 'http://127.0.0.1:9000/hook', secret_set: true }],
}

function mountEditor(rule: AlertRule | null) {
  const pinia = createPinia()
  setActivePinia(pinia)
  const auth = useAuthStore()
  auth.groups = [{ id: 'home', name: 'Home', my_role: 'owner', created_at_ms: 0 }] as never
  auth.setMe({ user: { name: 'admin', is_admin: true } } as never)
  useDeviceStore().devices = [{ id: 'smoke-1', name: 'smoke-1', kind: 'smoke' } as Device]
  return mount(AlertRuleEditor, { props: { rule, group: 'home' }, global: { plugins: [pinia, i18n] }, attachTo: document.body })
}

const find = (selector: string) => document.body.querySelector<HTMLElement>(selector)

beforeEach(() => {
  i18n.global.locale.value = 'en'
})
afterEach(() => {
  document.body.innerHTML = ''
})

describe('AlertRuleEditor', () => {
  it('shows a stored rule in the form and its document, without secrets, in the JSON view', async () => {
    const wrapper = mountEditor(RULE)
    await flushPromises()
    expect(find('[data-test="condition"]')?.getAttribute('data-type')).toBe('event')
    expect((find('[data-test="condition-matches"] input') as HTMLInputElement).value).toBe('{"smoke":true}')
    expect((find('[data-test="notify[1]-secret"] input') as HTMLInputElement).placeholder).toMatch(/leave empty to keep/)
    find('[data-test="rule-tab-json"]')!.click()
    await flushPromises()
    const text = (find('[data-test="rule-json"] textarea') as HTMLTextAreaElement).value
    const { id: _id, created_by: _by, created_at_ms: _c, updated_at_ms: _u, ...document } = RULE
    expect(JSON.parse(text)).toEqual({ ...document, notify: [{ channel: 'in_app' }, { channel: 'webhook', url: 'http://127.0.0.1:9000/hook' }] })
    wrapper.unmount()
  })

  it('shows the field the hub refused on its form item, and saves through the store', async () => {
    const wrapper = mountEditor(RULE)
    const store = useAlertRuleStore()
    const save = vi.spyOn(store, 'save').mockRejectedValueOnce(new ApiError(422, 'invalid', 'condition.matches: at least one field', 'condition.matches'))
    find('[data-test="rule-save"]')!.click()
    await flushPromises()
    expect(save).toHaveBeenCalledWith('ar-1', expect.objectContaining({ name: RULE.name }))
    expect(find('[data-test="rule-error"]')?.getAttribute('data-field')).toBe('condition.matches')
    const item = find('[data-test="item-condition.matches"]')!
    expect(item.textContent).toContain('at least one field')
    expect(item.textContent).not.toContain('condition.matches:')
    expect(find('[data-test="item-name"]')!.textContent).not.toContain('at least one field')
    save.mockResolvedValueOnce(RULE)
    find('[data-test="rule-save"]')!.click()
    await flushPromises()
    expect(wrapper.emitted('saved')?.[0]).toEqual([RULE])
    wrapper.unmount()
  })

  it('makes a new rule from the form: an event on one device', async () => {
    const wrapper = mountEditor(null)
    const save = vi.spyOn(useAlertRuleStore(), 'save').mockResolvedValue(RULE)
    const name = find('[data-test="rule-name"] input') as HTMLInputElement
    name.value = 'Smoke'
    name.dispatchEvent(new Event('input'))
    await flushPromises()
    find('[data-test="rule-tab-json"]')!.click()
    await flushPromises()
    const area = find('[data-test="rule-json"] textarea') as HTMLTextAreaElement
    const document = JSON.parse(area.value)
    expect(document).toMatchObject({ group: 'home', name: 'Smoke', condition: { type: 'reading' } })
    document.condition = { type: 'event', device: 'smoke-1', matches: { smoke: true } }
    area.value = JSON.stringify(document)
    area.dispatchEvent(new Event('input'))
    await flushPromises()
    find('[data-test="rule-tab-form"]')!.click()
    await flushPromises()
    expect(find('[data-test="condition"]')?.getAttribute('data-type')).toBe('event')
    find('[data-test="rule-save"]')!.click()
    await flushPromises()
    expect(save).toHaveBeenCalledWith(null, expect.objectContaining({ condition: { type: 'event', device: 'smoke-1', matches: { smoke: true } } }))
    wrapper.unmount()
  })
})

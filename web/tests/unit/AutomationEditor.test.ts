// The automation editor mounted: the form and the JSON view edit one document, invalid
// JSON keeps the JSON view, and a field the hub refuses shows on its item.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '@/api/http'
import { i18n } from '@/locales'
import { useAuthStore } from '@/stores/auth'
import { useAutomationStore } from '@/stores/automations'
import { useDeviceStore } from '@/stores/devices'
import type { Automation } from '@/types/automation'
import type { Device } from '@/types/models'
import AutomationEditor from '@/views/automations/modules/AutomationEditor.vue'

const device = (id: string, kind: string): Device => ({
  id, name: id, kind, room: 'hall', application: 'default', metadata: {}, enabled: true, created_at_ms: 0,
  live: { is_online: true, last_seen_ms: 0 },
} as Device)

const EXAMPLE: Automation = {
  id: 'a-1', created_by: 'admin', created_at_ms: 1, updated_at_ms: 1,
  group: 'home', name: 'Hall light on motion after dark', enabled: true, mode: 'single',
  triggers: [{ type: 'reading', device: 'hall-motion', metric: 'motion', eq: true }],
  conditions: [{ type: 'time', after: '20:00', before: '06:00' }],
  actions: [{ type: 'command', device: 'hall-lamp', name: 'switch', params: { on: true }, wait: true }],
}

function mountEditor(automation: Automation | null) {
  const pinia = createPinia()
  setActivePinia(pinia)
  const auth = useAuthStore()
  auth.groups = [{ id: 'home', name: 'Home', my_role: 'owner', created_at_ms: 0 }] as never
  auth.setMe({ user: { name: 'admin', is_admin: true } } as never)
  useDeviceStore().devices = [device('hall-motion', 'sensor'), device('hall-lamp', 'light')]
  return mount(AutomationEditor, { props: { automation, group: 'home' }, global: { plugins: [pinia, i18n] }, attachTo: document.body })
}

const body = () => document.body
const find = (selector: string) => body().querySelector<HTMLElement>(selector)
async function clickTab(name: 'form' | 'json') {
  find(`[data-test="editor-tab-${name}"]`)!.click()
  await flushPromises()
}
async function setJson(text: string) {
  const area = find('[data-test="automation-json"] textarea') as HTMLTextAreaElement
  area.value = text
  area.dispatchEvent(new Event('input'))
  await flushPromises()
}

beforeEach(() => {
  i18n.global.locale.value = 'en'
})
afterEach(() => {
  document.body.innerHTML = ''
})

describe('AutomationEditor', () => {
  it('shows an automation in the form, and the same document in the JSON view', async () => {
    const wrapper = mountEditor(EXAMPLE)
    await flushPromises()
    expect(find('[data-test="triggers[0]"]')?.getAttribute('data-type')).toBe('reading')
    expect((find('[data-test="triggers[0]-metric"] input') as HTMLInputElement).value).toBe('motion')
    expect((find('[data-test="conditions[0]-after"] input') as HTMLInputElement).value).toBe('20:00')
    await clickTab('json')
    const text = (find('[data-test="automation-json"] textarea') as HTMLTextAreaElement).value
    const { id: _id, created_by: _by, created_at_ms: _c, updated_at_ms: _u, ...document } = EXAMPLE
    expect(JSON.parse(text)).toEqual(document)
    wrapper.unmount()
  })

  it('takes the JSON view\'s edits back to the form, and keeps the view while the text is not a document', async () => {
    const wrapper = mountEditor(EXAMPLE)
    await clickTab('json')
    const text = (find('[data-test="automation-json"] textarea') as HTMLTextAreaElement).value
    await setJson(text.slice(0, -3))
    await clickTab('form')
    expect(find('[data-test="json-error"]')).not.toBeNull()
    expect(find('[data-test="automation-json"] textarea')).not.toBeNull()
    await setJson(text.replace('"motion"', '"presence"'))
    await clickTab('form')
    expect(find('[data-test="json-error"]')).toBeNull()
    expect((find('[data-test="triggers[0]-metric"] input') as HTMLInputElement).value).toBe('presence')
    wrapper.unmount()
  })

  it('shows the field the hub refused next to its item, and saves through the store', async () => {
    const wrapper = mountEditor(EXAMPLE)
    const store = useAutomationStore()
    const save = vi.spyOn(store, 'save').mockRejectedValueOnce(new ApiError(422, 'invalid', 'must not be empty', 'triggers[0].metric'))
    find('[data-test="automation-save"]')!.click()
    await flushPromises()
    expect(save).toHaveBeenCalledWith('a-1', expect.objectContaining({ name: EXAMPLE.name }))
    expect(find('[data-test="automation-error"]')?.textContent).toContain('triggers[0].metric')
    expect(find('[data-test="triggers[0]"] [data-test="field-error"]')?.getAttribute('data-field')).toBe('triggers[0].metric')
    expect(find('[data-test="actions[0]"] [data-test="field-error"]')).toBeNull()
    save.mockResolvedValueOnce(EXAMPLE)
    find('[data-test="automation-save"]')!.click()
    await flushPromises()
    expect(wrapper.emitted('saved')?.[0]).toEqual([EXAMPLE])
    wrapper.unmount()
  })

  it('does not save while a JSON field does not parse, and says which', async () => {
    const wrapper = mountEditor(EXAMPLE)
    const save = vi.spyOn(useAutomationStore(), 'save').mockResolvedValue(EXAMPLE)
    const params = find('[data-test="actions[0]-params"] input') as HTMLInputElement
    params.value = '{"on": tru'
    params.dispatchEvent(new Event('input'))
    await flushPromises()
    find('[data-test="automation-save"]')!.click()
    await flushPromises()
    expect(save).not.toHaveBeenCalled()
    expect(find('[data-test="automation-error"]')?.textContent).toContain('actions[0].params')
    params.value = '{"on": false}'
    params.dispatchEvent(new Event('input'))
    await flushPromises()
    find('[data-test="automation-save"]')!.click()
    await flushPromises()
    expect(save).toHaveBeenCalledWith('a-1', expect.objectContaining({ actions: [expect.objectContaining({ params: { on: false } })] }))
    wrapper.unmount()
  })
})

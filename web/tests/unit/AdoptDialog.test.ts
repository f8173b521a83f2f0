import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { i18n } from '@/locales'
import { useAuthStore } from '@/stores/auth'
import type { DiscoveredDevice } from '@/types/discovered'
import AdoptDialog from '@/views/discovered/modules/AdoptDialog.vue'

const plug: DiscoveredDevice = {
  app: 'tasmota', id: '35EBF6', group: 'home', name: 'EZPlug', kind: 'switch', components: [], capabilities: [{ type: 'switch' }],
  online: true, first_seen_ms: 1, last_seen_ms: 1,
}
const app = (id: string, discovery: boolean, my_permission: string | null) =>
  ({ id, group: 'home', name: id === 'plugs' ? 'Plugs' : id, description: '', mqtt_key: `app-${id}`, created_at_ms: 1, my_permission, discovery })

function hub(adopt: [number, unknown]) {
  const calls: string[] = []
  vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => {
    calls.push(init.body ? `${init.method} ${url} ${init.body}` : `${init.method} ${url}`)
    if (url === '/api/v1/apps?group=home') return new Response(JSON.stringify([app('plugs', false, 'control'), app('tasmota', true, 'manage'), app('lights', false, 'manage')]), { status: 200 })
    if (url.startsWith('/api/v1/discovered/tasmota/35EBF6/adopt')) return new Response(JSON.stringify(adopt[1]), { status: adopt[0] })
    return new Response(JSON.stringify({ items: [], total: 0 }), { status: 200 })
  }))
  return calls
}

function mountDialog() {
  const pinia = createPinia()
  setActivePinia(pinia)
  const auth = useAuthStore()
  auth.groups = [{ id: 'home', name: 'Home', my_role: 'member' } as never]
  // NModal teleports to body; the dialog is read there.
  return mount(AdoptDialog, { props: { device: plug }, global: { plugins: [pinia, i18n] }, attachTo: document.body })
}

beforeEach(() => {
  i18n.global.locale.value = 'en'
  document.body.innerHTML = ''
})
afterEach(() => vi.unstubAllGlobals())

describe('AdoptDialog', () => {
  it('offers the applications the person manages, never a discovery login, and adopts into the chosen one', async () => {
    const calls = hub([201, { id: '35EBF6', application: 'lights', name: 'EZPlug', kind: 'switch', metadata: {}, enabled: true, created_at_ms: 1, live: { is_online: false } }])
    const wrapper = mountDialog()
    await flushPromises()
    // A member manages only the app with the manage grant; the discovery login is left out.
    const vm = wrapper.vm as unknown as { apps: { id: string }[]; form: { app: string } }
    expect(vm.apps.map((known) => known.id)).toEqual(['lights'])
    expect(vm.form.app).toBe('lights')
    const name = document.body.querySelector<HTMLInputElement>('input[name="adopt-name"]')!
    expect(name.value).toBe('EZPlug')
    document.body.querySelector<HTMLElement>('[data-test="adopt-submit"]')!.click()
    await flushPromises()
    expect(calls).toContain('POST /api/v1/discovered/tasmota/35EBF6/adopt {"app":"lights","name":"EZPlug"}')
    expect(wrapper.emitted('adopted')?.[0]?.[0]).toMatchObject({ id: '35EBF6', application: 'lights' })
    wrapper.unmount()
  })

  it('shows a refusal on the field the hub named', async () => {
    hub([409, { error: { code: 'conflict', message: 'device 35EBF6 exists', field: 'id' } }])
    const wrapper = mountDialog()
    await flushPromises()
    document.body.querySelector<HTMLElement>('[data-test="adopt-submit"]')!.click()
    await flushPromises()
    expect(wrapper.emitted('adopted')).toBeUndefined()
    expect(document.body.textContent).toContain('device 35EBF6 exists')
    expect(document.body.querySelector('[data-test="adopt-error"]')).toBeNull()
    wrapper.unmount()
  })
})

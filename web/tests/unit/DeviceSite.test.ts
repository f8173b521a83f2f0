// Putting a device in a site from its edit dialog (issue 20): the group's owners and
// admins choose among the group's sites or none; the site is sent only when changed (a
// member editing the name is not refused for it); members are not offered the choice.
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { i18n } from '@/locales'
import { useAuthStore } from '@/stores/auth'
import type { Device } from '@/types/models'
import EditDeviceDialog from '@/views/device/modules/EditDeviceDialog.vue'

const lamp = {
  id: 'lamp', application: 'default', name: 'Lamp', kind: 'light', room: null, firmware: null, metadata: {}, enabled: true,
  heartbeat_timeout_secs: null, created_at_ms: 1, site: null, live: { is_online: false },
} as unknown as Device
const site = (id: string) => ({ id, group: 'home', name: id, enabled: true, created_at_ms: 1, devices: [] })

function hub() {
  const calls: string[] = []
  vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => {
    calls.push(init.body ? `${init.method} ${url} ${init.body}` : `${init.method} ${url}`)
    if (url === '/api/v1/sites?group=home') return new Response(JSON.stringify([site('home-1'), site('cabin')]), { status: 200 })
    if (init.method === 'PATCH') return new Response(JSON.stringify({ ...lamp, ...JSON.parse(String(init.body)) }), { status: 200 })
    return new Response('{}', { status: 404 })
  }))
  return calls
}

function mountDialog(role: string, device: Device = lamp) {
  const pinia = createPinia()
  setActivePinia(pinia)
  useAuthStore().groups = [{ id: 'home', name: 'Home', my_role: role } as never]
  return mount(EditDeviceDialog, { props: { device }, global: { plugins: [pinia, i18n] }, attachTo: document.body })
}

const submit = () => document.body.querySelector<HTMLElement>('[data-test="edit-device-submit"]')!.click()

beforeEach(() => {
  i18n.global.locale.value = 'en'
  document.body.innerHTML = ''
})
afterEach(() => vi.unstubAllGlobals())

describe('a device\'s site in its edit dialog', () => {
  it('lets an admin put the device in one of the group\'s sites', async () => {
    const calls = hub()
    const wrapper = mountDialog('admin')
    await flushPromises()
    expect(calls).toContain('GET /api/v1/sites?group=home')
    const vm = wrapper.vm as unknown as { siteOptions: { value: string; label: string }[]; form: { site: string } }
    expect(vm.siteOptions.map((option) => option.value)).toEqual(['', 'home-1', 'cabin'])
    expect(vm.siteOptions[0].label).toContain('None')
    expect(document.body.querySelector('[data-test="edit-site-select"]')).not.toBeNull()
    vm.form.site = 'home-1'
    submit()
    await flushPromises()
    expect(calls.find((call) => call.startsWith('PATCH'))).toContain('"site":"home-1"')
    expect(wrapper.emitted('saved')?.[0]?.[0]).toMatchObject({ site: 'home-1' })
    wrapper.unmount()
  })

  it('takes the device out of its site with null, and leaves the site alone when unchanged', async () => {
    const calls = hub()
    const wrapper = mountDialog('owner', { ...lamp, site: 'cabin' } as Device)
    await flushPromises()
    const vm = wrapper.vm as unknown as { form: { site: string; name: string } }
    expect(vm.form.site).toBe('cabin')
    vm.form.name = 'Hall lamp'
    submit()
    await flushPromises()
    expect(calls.find((call) => call.startsWith('PATCH'))).not.toContain('site')
    vm.form.site = ''
    submit()
    await flushPromises()
    expect(calls.filter((call) => call.startsWith('PATCH'))[1]).toContain('"site":null')
    wrapper.unmount()
  })

  it('offers members no site and does not ask the hub for sites', async () => {
    const calls = hub()
    const wrapper = mountDialog('member')
    await flushPromises()
    expect(document.body.querySelector('[data-test="edit-site-select"]')).toBeNull()
    expect(calls).toEqual([])
    wrapper.unmount()
  })
})

// The claim page (issue 23): what the phone's camera opens from a device's label. It
// reads the device id and code from the URL, offers only the groups where the person may
// add devices, sends the claim, and opens the device's page; the hub's refusals read the
// same whatever the cause (no hint whether the device exists), in English and Chinese.
import { flushPromises, mount } from '@vue/test-utils'
import { NMessageProvider } from 'naive-ui'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n } from '@/locales'
import { useAuthStore } from '@/stores/auth'
import ClaimPage from '@/views/claim/index.vue'
import ClaimInfo from '@/views/device/modules/ClaimInfo.vue'

const lock = {
  id: 'lock-1', application: 'claimed-0123456789abcdef', name: 'Front door', kind: 'lock', room: 'kitchen', firmware: null,
  metadata: {}, enabled: true, heartbeat_timeout_secs: null, created_at_ms: 1, site: null, live: { is_online: true },
}

function hub(answer: [number, unknown]) {
  const calls: { method: string; url: string; body: unknown }[] = []
  vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => {
    calls.push({ method: String(init.method), url, body: init.body ? JSON.parse(String(init.body)) : null })
    return new Response(JSON.stringify(answer[1]), { status: answer[0], headers: { 'content-type': 'application/json' } })
  }))
  return calls
}

const mounted: { unmount: () => void }[] = []
async function open(url: string) {
  const pinia = createPinia()
  setActivePinia(pinia)
  useAuthStore().groups = [
    { id: 'home', name: 'Home', my_role: 'member' },
    { id: 'cabin', name: 'Cabin', my_role: 'viewer' },
    { id: '_unclaimed', name: 'Unclaimed devices', my_role: 'owner' },
  ] as never
  const router = createRouter({ history: createMemoryHistory(), routes: [
    { path: '/claim', name: 'claim', component: ClaimPage },
    { path: '/devices/:id', name: 'device', component: { render: () => null } },
  ] })
  await router.push(url)
  const Root = defineComponent({ render: () => h(NMessageProvider, null, { default: () => h(ClaimPage) }) })
  const wrapper = mount(Root, { global: { plugins: [pinia, i18n, router] }, attachTo: document.body })
  mounted.push(wrapper)
  await flushPromises()
  const vm = wrapper.findComponent(ClaimPage).vm as unknown as {
    form: { device: string; code: string; group: string; room: string }
    groupOptions: { value: string }[]
  }
  return { wrapper, router, vm }
}

const submit = async (wrapper: { find: (selector: string) => { trigger: (event: string) => Promise<void> } }) => {
  await wrapper.find('[data-test="claim-submit"]').trigger('click')
  await flushPromises()
}

beforeEach(() => {
  i18n.global.locale.value = 'en'
  document.body.innerHTML = ''
})
afterEach(() => {
  for (const wrapper of mounted.splice(0)) wrapper.unmount()
  vi.unstubAllGlobals()
})

describe('the claim page', () => {
  it('claims the device the label names into the chosen group and room, then opens it', async () => {
    const calls = hub([200, lock])
    const { wrapper, router, vm } = await open('/claim?d=lock-1&c=AbCd1234EfGh5678')
    expect(vm.form.device).toBe('lock-1')
    expect(vm.form.code).toBe('AbCd1234EfGh5678')
    // Only groups where the person may add devices: not as a viewer, not the holding group.
    expect(vm.groupOptions.map((option) => option.value)).toEqual(['home'])
    expect(vm.form.group).toBe('home')
    vm.form.room = ' kitchen '
    await submit(wrapper)
    expect(calls).toEqual([{
      method: 'POST',
      url: '/api/v1/claims',
      body: { device: 'lock-1', code: 'AbCd1234EfGh5678', group: 'home', room: 'kitchen' },
    }])
    expect(router.currentRoute.value.fullPath).toBe('/devices/lock-1')
  })

  it('takes a code typed by hand in groups of four', async () => {
    const calls = hub([200, lock])
    const { wrapper, vm } = await open('/claim')
    expect(vm.form.device).toBe('')
    expect(wrapper.find('[data-test="claim-submit"]').attributes('disabled')).toBeDefined()
    vm.form.device = 'lock-1'
    vm.form.code = 'AbCd 1234-EfGh 5678'
    await flushPromises()
    await submit(wrapper)
    expect((calls[0].body as { code: string }).code).toBe('AbCd1234EfGh5678')
  })

  it('says the same for a wrong code and an unknown device, and asks to wait when limited', async () => {
    hub([404, { error: { code: 'not_found', message: 'no device is waiting to be claimed with that id and code' } }])
    const { wrapper, router } = await open('/claim?d=ghost&c=AAAAAAAAAAAAAAAA')
    await submit(wrapper)
    expect(wrapper.find('[data-test="claim-error"]').text()).toContain('a code works only once')
    expect(router.currentRoute.value.name).toBe('claim')
    i18n.global.locale.value = 'zh-CN'
    await flushPromises()
    await submit(wrapper)
    expect(wrapper.find('[data-test="claim-error"]').text()).toContain('认领码只能使用一次')

    i18n.global.locale.value = 'en'
    hub([429, { error: { code: 'rate_limited', message: 'too many failed attempts; retry in 60 s' } }])
    await submit(wrapper)
    expect(wrapper.find('[data-test="claim-error"]').text()).toContain('Wait a minute')
  })

  it('tells a person with no group where they may add devices', async () => {
    hub([200, lock])
    const { wrapper } = await open('/claim?d=lock-1&c=x')
    useAuthStore().groups = [{ id: 'cabin', name: 'Cabin', my_role: 'viewer' }] as never
    await flushPromises()
    expect(wrapper.find('[data-test="claim-no-group"]').exists()).toBe(true)
  })
})

describe('the owner on the device page', () => {
  it('shows the owner and, for those allowed, unclaims and shows the new code once', async () => {
    const calls: string[] = []
    vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => {
      calls.push(`${init.method} ${url}`)
      const body = url.endsWith('/unclaim')
        ? { id: 'lock-1', secret: 'S'.repeat(32), code: 'NewCode123456789', claim_url: 'http://hub/claim?d=lock-1&c=NewCode123456789' }
        : { unclaimed: false, owner: 'alice', claimed_at_ms: 1, can_unclaim: true }
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
    }))
    setActivePinia(createPinia())
    const wrapper = mount(ClaimInfo, { props: { deviceId: 'lock-1' }, global: { plugins: [i18n] } })
    mounted.push(wrapper)
    await flushPromises()
    expect(wrapper.find('[data-test="device-owner"]').text()).toBe('alice')
    expect(wrapper.find('[data-test="unclaim-device"]').exists()).toBe(true)
    await (wrapper.vm as unknown as { unclaim: () => Promise<void> }).unclaim()
    await flushPromises()
    expect(calls).toContain('POST /api/v1/devices/lock-1/unclaim')
    expect(wrapper.find('[data-test="new-claim-code"]').text()).toBe('NewCode123456789')
    expect(wrapper.find('[data-test="device-unclaimed"]').exists()).toBe(true)
    expect(wrapper.find('[data-test="unclaim-device"]').exists()).toBe(false)
  })

  it('offers no Unclaim to a member who does not own it', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response(
      JSON.stringify({ unclaimed: false, owner: 'alice', claimed_at_ms: 1, can_unclaim: false }),
      { status: 200, headers: { 'content-type': 'application/json' } },
    )))
    const wrapper = mount(ClaimInfo, { props: { deviceId: 'lock-1' }, global: { plugins: [i18n] } })
    mounted.push(wrapper)
    await flushPromises()
    expect(wrapper.find('[data-test="device-owner"]').text()).toBe('alice')
    expect(wrapper.find('[data-test="unclaim-device"]').exists()).toBe(false)
  })
})

import { flushPromises, mount } from '@vue/test-utils'
import { NNotificationProvider } from 'naive-ui'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n } from '@/locales'
import { useLiveStore } from '@/stores/live'

// The live connection is the client's business (client.test.ts); here only its state.
vi.mock('@/mqtt', () => ({ startLive: vi.fn(), stopLive: vi.fn() }))
// Every list the layout's stores load is empty (a list, or a page of devices).
vi.mock('@/api/http', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@/api/http')>()
  const empty = vi.fn(async () => Object.assign([], { items: [] }))
  return { ...actual, http: { get: empty, post: empty, put: empty, patch: empty, delete: empty } }
})

import AppLayout from '@/layouts/AppLayout.vue'

const mounted: { unmount: () => void }[] = []
async function mountLayout() {
  const router = createRouter({ history: createMemoryHistory(), routes: [
    { path: '/', component: { render: () => null } },
    { path: '/login', name: 'login', component: { render: () => null } },
  ] })
  await router.push('/')
  const Root = defineComponent({ render: () => h(NNotificationProvider, null, { default: () => h(AppLayout) }) })
  const wrapper = mount(Root, { global: { plugins: [i18n, router] } })
  mounted.push(wrapper)
  await flushPromises()
  return wrapper
}

beforeEach(() => setActivePinia(createPinia()))
afterEach(() => {
  i18n.global.locale.value = 'en'
  for (const wrapper of mounted.splice(0)) wrapper.unmount()
})

describe('the layout\'s live-connection banner', () => {
  it('tells the administrator what to set when the hub gives browsers no live view, in English and Chinese', async () => {
    const wrapper = await mountLayout()
    const live = useLiveStore()
    live.setConnection('unavailable')
    await flushPromises()
    const banner = wrapper.find('[data-test="live-unavailable-banner"]')
    expect(banner.exists()).toBe(true)
    expect(banner.text()).toContain('browser_url')
    expect(wrapper.find('[data-test="offline-banner"]').exists()).toBe(false)
    i18n.global.locale.value = 'zh-CN'
    await flushPromises()
    expect(wrapper.find('[data-test="live-unavailable-banner"]').text()).toContain('实时更新')

    live.setConnection('offline')
    await flushPromises()
    expect(wrapper.find('[data-test="live-unavailable-banner"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="offline-banner"]').exists()).toBe(true)
    live.setConnection('online')
    await flushPromises()
    expect(wrapper.find('[data-test="live-unavailable-banner"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="offline-banner"]').exists()).toBe(false)
  })
})

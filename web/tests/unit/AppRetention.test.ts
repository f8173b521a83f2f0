import { mount } from '@vue/test-utils'
import { NInputNumber } from 'naive-ui'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { i18n } from '@/locales'
import { useAppsStore } from '@/stores/apps'
import type { App } from '@/types/models'
import AppRetention from '@/views/apps/modules/AppRetention.vue'

const meters: App = {
  id: 'meters', group: 'home', name: 'Meters', description: '', mqtt_key: 'app-k', created_at_ms: 1,
  my_permission: 'manage', discovery: false, message_retention_days: 30,
}

const mountInput = (app: App, disabled = false) => mount(AppRetention, { props: { app, disabled }, global: { plugins: [i18n] } })
const save = (wrapper: ReturnType<typeof mountInput>) => wrapper.find('[data-test="app-retention-save"]')
const type = async (wrapper: ReturnType<typeof mountInput>, days: number | null) => {
  wrapper.findComponent(NInputNumber).vm.$emit('update:value', days)
  await wrapper.vm.$nextTick()
}

beforeEach(() => setActivePinia(createPinia()))
afterEach(() => {
  vi.unstubAllGlobals()
  i18n.global.locale.value = 'en'
})

describe('the raw-message retention of an application', () => {
  it('shows the stored days in English and in Chinese', async () => {
    i18n.global.locale.value = 'en'
    const wrapper = mountInput(meters)
    expect((wrapper.find('input').element as HTMLInputElement).value).toBe('30')
    expect(wrapper.text()).toContain('Keep raw messages')
    expect(wrapper.find('[data-test="app-retention-hint"]').text()).toContain('kept 30 days')
    i18n.global.locale.value = 'zh-CN'
    await wrapper.vm.$nextTick()
    expect(wrapper.text()).toContain('原始消息保留')
    expect(wrapper.find('[data-test="app-retention-hint"]').text()).toContain('保留 30 天')
  })

  it('says the hub default applies when none is set', () => {
    const wrapper = mountInput({ ...meters, message_retention_days: null })
    expect((wrapper.find('input').element as HTMLInputElement).value).toBe('')
    expect(wrapper.find('[data-test="app-retention-hint"]').text()).toContain("hub's default")
  })

  it('saves a changed number of days, or the default when emptied', async () => {
    const wrapper = mountInput(meters)
    expect(save(wrapper).attributes('disabled')).toBeDefined()
    await type(wrapper, 90)
    expect(save(wrapper).attributes('disabled')).toBeUndefined()
    await save(wrapper).trigger('click')
    await type(wrapper, null)
    await save(wrapper).trigger('click')
    expect(wrapper.emitted('save')).toEqual([[90], [null]])
  })

  it('does not offer to save what the hub would refuse', async () => {
    const wrapper = mountInput(meters)
    for (const days of [0, 3651, 1.5]) {
      await type(wrapper, days)
      expect(save(wrapper).attributes('disabled'), String(days)).toBeDefined()
    }
    await type(wrapper, 3650)
    expect(save(wrapper).attributes('disabled')).toBeUndefined()
  })

  it('is read-only for those who may not change the application', () => {
    const wrapper = mountInput(meters, true)
    expect(wrapper.find('input').attributes('disabled')).toBeDefined()
    expect(save(wrapper).attributes('disabled')).toBeDefined()
  })

  it('is sent as PATCH /apps/{id}, and the list shows the stored value', async () => {
    const requests: { method: string; url: string; body: unknown }[] = []
    vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => {
      requests.push({ method: init.method ?? 'GET', url, body: init.body ? JSON.parse(String(init.body)) : undefined })
      if (init.method === 'PATCH') return new Response(JSON.stringify({ ...meters, message_retention_days: 90 }), { status: 200 })
      if (url === '/api/v1/apps?group=home') return new Response(JSON.stringify([meters]), { status: 200 })
      return new Response(JSON.stringify([]), { status: 200 })
    }))
    const store = useAppsStore()
    await store.load('home')
    expect(await store.setRetention(90)).toBe(true)
    expect(requests.filter((request) => request.method === 'PATCH'))
      .toEqual([{ method: 'PATCH', url: '/api/v1/apps/meters', body: { message_retention_days: 90 } }])
    expect(store.selected?.message_retention_days).toBe(90)
  })
})

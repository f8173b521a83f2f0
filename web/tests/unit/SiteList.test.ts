import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { i18n } from '@/locales'
import type { Site } from '@/api/sites'

const home: Site = { id: 'home-1', group: 'home', name: 'Our flat', enabled: true, created_at_ms: 1, last_seen_ms: null, devices: ['lamp', 'plug'] }

const api = vi.hoisted(() => ({
  fetchSites: vi.fn(),
  createSite: vi.fn(),
  updateSite: vi.fn(),
  rotateSiteSecret: vi.fn(),
  removeSite: vi.fn(),
}))
vi.mock('@/api/sites', () => api)

import SiteList from '@/views/sites/modules/SiteList.vue'

/** Mounted lists, unmounted after each test: each polls its sites until then. */
const mounted: { unmount: () => void }[] = []
const mountList = async () => {
  const wrapper = mount(SiteList, { props: { group: 'home' }, global: { plugins: [i18n] } })
  mounted.push(wrapper)
  await flushPromises()
  return wrapper
}

beforeEach(() => {
  setActivePinia(createPinia())
  for (const fn of Object.values(api)) fn.mockReset()
  api.fetchSites.mockResolvedValue([home])
})
afterEach(() => {
  i18n.global.locale.value = 'en'
  for (const wrapper of mounted.splice(0)) wrapper.unmount()
  vi.useRealTimers()
})

describe('the sites of a group', () => {
  it('lists the group\'s sites in English and in Chinese', async () => {
    const wrapper = await mountList()
    expect(api.fetchSites).toHaveBeenCalledWith('home')
    const row = wrapper.find('[data-test="site-home-1"]')
    expect(row.text()).toContain('Our flat')
    expect(row.text()).toContain('2')
    expect(row.text()).toContain('Enabled')
    i18n.global.locale.value = 'zh-CN'
    await wrapper.vm.$nextTick()
    expect(wrapper.find('[data-test="site-home-1"]').text()).toContain('已启用')
    expect(wrapper.text()).toContain('站点 ID')
  })

  it('registers a site and shows its secret once', async () => {
    api.createSite.mockResolvedValue({ site: { ...home, id: 'cabin', devices: [] }, secret: 's3cret-of-the-cabin' })
    const wrapper = await mountList()
    expect(wrapper.find('[data-test="site-add"]').attributes('disabled')).toBeDefined()
    await wrapper.find('[data-test="site-id"] input').setValue('cabin')
    await wrapper.find('[data-test="site-name"] input').setValue('Cabin')
    await wrapper.find('[data-test="site-form"]').trigger('submit')
    await flushPromises()
    expect(api.createSite).toHaveBeenCalledWith({ id: 'cabin', group: 'home', name: 'Cabin' })
    expect(wrapper.find('[data-test="site-secret-value"]').text()).toBe('s3cret-of-the-cabin')
    expect(wrapper.find('[data-test="site-secret"]').text()).toContain('site:cabin')
    expect(api.fetchSites).toHaveBeenCalledTimes(2)
    // Closing it: the secret is nowhere on the page any more.
    await wrapper.find('[data-test="site-secret"] .n-alert__close').trigger('click')
    expect(wrapper.text()).not.toContain('s3cret-of-the-cabin')
  })

  it('disables, rotates and removes a site, and says why the hub refused', async () => {
    api.updateSite.mockResolvedValue({ ...home, enabled: false })
    api.rotateSiteSecret.mockResolvedValue({ site: home, secret: 'new-secret' })
    api.removeSite.mockRejectedValue(new Error('managing sites needs the admin role'))
    const wrapper = await mountList()
    await wrapper.find('[data-test="site-toggle-home-1"]').trigger('click')
    await flushPromises()
    expect(api.updateSite).toHaveBeenCalledWith('home-1', { enabled: false })
    await wrapper.find('[data-test="site-rotate-home-1"]').trigger('click')
    await flushPromises()
    expect(wrapper.find('[data-test="site-secret-value"]').text()).toBe('new-secret')
    await wrapper.find('[data-test="site-remove-home-1"]').trigger('click')
    await flushPromises()
    expect(api.removeSite).toHaveBeenCalledWith('home-1')
    expect(wrapper.find('[data-test="sites-error"]').text()).toContain('admin role')
  })

  it('shows each site\'s link: connected since when, its last message, what it relayed, the lag', async () => {
    const now = Date.now()
    api.fetchSites.mockResolvedValue([
      { ...home, link: { connected: true, since_ms: now - 120_000, last_message_ms: now - 30_000, last_home_ms: now - 42_000, lag_ms: 4_200, messages_total: 12345 } },
      { ...home, id: 'cabin', devices: [], link: { connected: false, since_ms: null, last_message_ms: null, last_home_ms: null, lag_ms: null, messages_total: 0 } },
    ])
    const wrapper = await mountList()
    expect(wrapper.find('[data-test="site-link-home-1"]').text()).toContain('Connected')
    expect(wrapper.find('[data-test="site-link-home-1"]').text()).toContain('2 minutes ago')
    expect(wrapper.find('[data-test="site-last-home-1"]').text()).toBe('30 seconds ago')
    expect(wrapper.find('[data-test="site-relayed-home-1"]').text()).toBe('12,345')
    expect(wrapper.find('[data-test="site-lag-home-1"]').text()).toBe('4.2 sec')
    expect(wrapper.find('[data-test="site-devices-home-1"]').text()).toContain('lamp, plug')
    expect(wrapper.find('[data-test="site-link-cabin"]').text()).toBe('Not connected')
    expect(wrapper.find('[data-test="site-last-cabin"]').text()).toBe('never')
    expect(wrapper.find('[data-test="site-lag-cabin"]').text()).toBe('—')
    i18n.global.locale.value = 'zh-CN'
    await wrapper.vm.$nextTick()
    expect(wrapper.find('[data-test="site-link-home-1"]').text()).toContain('已连接')
    expect(wrapper.find('[data-test="site-link-cabin"]').text()).toBe('未连接')
    expect(wrapper.text()).toContain('延迟')
  })

  it('asks for the links again while shown, and no more once gone', async () => {
    vi.useFakeTimers()
    const wrapper = mount(SiteList, { props: { group: 'home' }, global: { plugins: [i18n] } })
    await vi.advanceTimersByTimeAsync(0)
    expect(api.fetchSites).toHaveBeenCalledTimes(1)
    api.fetchSites.mockResolvedValue([{ ...home, link: { connected: true, since_ms: Date.now(), messages_total: 7 } }])
    await vi.advanceTimersByTimeAsync(3000)
    expect(api.fetchSites).toHaveBeenCalledTimes(2)
    expect(wrapper.find('[data-test="site-relayed-home-1"]').text()).toBe('7')
    wrapper.unmount()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(api.fetchSites).toHaveBeenCalledTimes(2)
  })

  it('says so when the group has no site', async () => {
    api.fetchSites.mockResolvedValue([])
    const wrapper = await mountList()
    expect(wrapper.find('[data-test="sites-empty"]').exists()).toBe(true)
  })
})

// The Cloud link page (issue 20, docs/bridge.md "Visible"): the link's state, the queue
// against its bounds, the counters, the registry mirror when the hub reports one; the
// store's polling and a hub without [bridge] (404).
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { i18n } from '@/locales'
import type { BridgeStatus } from '@/api/bridge'
import { useBridgeStore } from '@/stores/bridge'
import BridgeLink from '@/views/link/modules/BridgeLink.vue'
import LinkPage from '@/views/link/index.vue'
import { formatBytes, formatDuration } from '@/utils/units'

const NOW = 1_800_000_000_000

const status: BridgeStatus = {
  site: 'home-1',
  url: 'mqtt://127.0.0.1:1883',
  up: false,
  down_since_ms: NOW - 5 * 60_000,
  queued_messages: 1234,
  queued_bytes: 1536,
  queue_max_messages: 1_000_000,
  queue_max_bytes: 512 * 1024 * 1024,
  overflow: 'drop-oldest',
  queued_total: 1300,
  sent_total: 70,
  acked_total: 66,
  dropped_total: 2,
  refused_total: 0,
  rejected_total: 1,
  commands_total: 3,
  connects_total: 4,
  last_sent_at_ms: NOW - 6 * 60_000,
}

/** A fake hub answering GET /api/v1/bridge with whatever `answer()` gives. */
function hub(answer: () => [number, unknown]) {
  const fetch = vi.fn(async () => {
    const [code, body] = answer()
    return new Response(JSON.stringify(body), { status: code })
  })
  vi.stubGlobal('fetch', fetch)
  return fetch
}

beforeEach(() => setActivePinia(createPinia()))
afterEach(() => {
  i18n.global.locale.value = 'en'
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

describe('the cloud link card', () => {
  it('shows a link that is down: since when, the queue of its bounds, the last sync, the counters', () => {
    const wrapper = mount(BridgeLink, { props: { status, now: NOW }, global: { plugins: [i18n] } })
    expect(wrapper.find('[data-test="bridge-state"]').text()).toBe('Down')
    expect(wrapper.find('[data-test="bridge-down-since"]').text()).toContain('5 minutes ago')
    expect(wrapper.find('[data-test="bridge-queued"]').text()).toBe('1,234 of 1,000,000')
    expect(wrapper.find('[data-test="bridge-queued-bytes"]').text()).toBe('1.5 KiB of 512 MiB')
    expect(wrapper.find('[data-test="bridge-overflow"]').text()).toBe('drop the oldest')
    expect(wrapper.find('[data-test="bridge-last-sync"]').text()).toContain('6 minutes ago')
    expect(wrapper.find('[data-test="bridge-count-acked"]').text()).toContain('66')
    expect(wrapper.find('[data-test="bridge-count-rejected"]').text()).toContain('Rejected by the cloud')
    expect(wrapper.find('[data-test="bridge-site"]').text()).toBe('home-1')
    expect(wrapper.find('[data-test="bridge-mirror"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="bridge-full"]').exists()).toBe(false)
  })

  it('shows an up link without "down since", in Chinese too', async () => {
    const wrapper = mount(BridgeLink, { props: { status: { ...status, up: true, down_since_ms: null, overflow: 'refuse' }, now: NOW }, global: { plugins: [i18n] } })
    expect(wrapper.find('[data-test="bridge-state"]').text()).toBe('Up')
    expect(wrapper.find('[data-test="bridge-down-since"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="bridge-overflow"]').text()).toBe('refuse new messages')
    i18n.global.locale.value = 'zh-CN'
    await wrapper.vm.$nextTick()
    expect(wrapper.find('[data-test="bridge-state"]').text()).toBe('已连接')
    expect(wrapper.find('[data-test="bridge-overflow"]').text()).toBe('拒绝新消息')
    expect(wrapper.text()).toContain('云端已确认')
  })

  it('says when the queue is full, and shows the mirrored registry once reported', () => {
    const mirror = {
      revision: 42,
      last_sync_ms: NOW - 10 * 60_000,
      conflicts: [
        { device: 'lamp', reason: 'id taken in the cloud', at_ms: NOW },
        { device: 'user:alice', reason: 'a person of this hub has the name', at_ms: NOW },
      ],
      pushed_total: 3,
      rejected_total: 1,
    }
    const wrapper = mount(BridgeLink, { props: { status: { ...status, queued_messages: 1_000_000, mirror }, now: NOW }, global: { plugins: [i18n] } })
    expect(wrapper.find('[data-test="bridge-full"]').exists()).toBe(true)
    expect(wrapper.find('[data-test="bridge-mirror-revision"]').text()).toBe('42')
    expect(wrapper.find('[data-test="bridge-mirror-sync"]').text()).toContain('10 minutes ago')
    expect(wrapper.find('[data-test="bridge-mirror-conflicts"]').text()).toBe('2')
    expect(wrapper.findAll('[data-test="bridge-mirror-conflict"]').map((item) => item.text())).toEqual(['lamp: id taken in the cloud', 'user:alice: a person of this hub has the name'])
  })
})

describe('the cloud link page', () => {
  it('polls the hub while open and stops when left', async () => {
    vi.useFakeTimers()
    let answer = status
    const fetch = hub(() => [200, answer])
    const wrapper = mount(LinkPage, { global: { plugins: [i18n] } })
    await vi.advanceTimersByTimeAsync(0)
    expect(fetch).toHaveBeenCalledTimes(1)
    expect(wrapper.find('[data-test="bridge-state"]').text()).toBe('Down')
    answer = { ...status, up: true, down_since_ms: null, queued_messages: 0 }
    await vi.advanceTimersByTimeAsync(2000)
    expect(fetch).toHaveBeenCalledTimes(2)
    expect(wrapper.find('[data-test="bridge-state"]').text()).toBe('Up')
    expect(wrapper.find('[data-test="bridge-queued"]').text()).toBe('0 of 1,000,000')
    wrapper.unmount()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(fetch).toHaveBeenCalledTimes(2)
  })

  it('says so on a hub without [bridge] (404), and shows other errors', async () => {
    hub(() => [404, { error: { code: 'not_found', message: 'this hub has no [bridge] to a cloud hub' } }])
    const wrapper = mount(LinkPage, { global: { plugins: [i18n] } })
    await flushPromises()
    expect(wrapper.find('[data-test="bridge-absent"]').text()).toContain('no [bridge] section')
    expect(wrapper.find('[data-test="bridge-card"]').exists()).toBe(false)
    wrapper.unmount()
    const store = useBridgeStore()
    hub(() => [403, { error: { code: 'forbidden', message: 'needs a hub administrator' } }])
    await store.load()
    expect(store.error).toContain('hub administrator')
    expect(store.absent).toBe(true)
  })
})

describe('units', () => {
  it('formats sizes and durations', () => {
    expect(formatBytes(0, 'en')).toBe('0 B')
    expect(formatBytes(1023, 'en')).toBe('1,023 B')
    expect(formatBytes(536_870_912, 'en')).toBe('512 MiB')
    expect(formatDuration(4_200, 'en')).toBe('4.2 sec')
    expect(formatDuration(95_000, 'en')).toBe('1.6 min')
    expect(formatDuration(3 * 3_600_000, 'en')).toBe('3 hr')
  })
})

import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import * as history from '@/api/history'
import LineChart from '@/components/LineChart.vue'
import { i18n } from '@/locales'
import MetricPanel from '@/views/device/modules/MetricPanel.vue'

function mountPanel() {
  const pinia = createPinia()
  setActivePinia(pinia)
  return mount(MetricPanel, { props: { deviceId: 'hall-lamp', metrics: ['temperature'], refreshKey: 0 }, global: { plugins: [pinia, i18n] } })
}

/** Whether Naive UI's spinner is showing (NSpin renders its body only while `show`). */
const spinning = (wrapper: ReturnType<typeof mount>) => wrapper.find('.n-spin-body').exists()

beforeEach(() => {
  i18n.global.locale.value = 'en'
  vi.restoreAllMocks()
})

describe('MetricPanel', () => {
  it('says there is only one reading instead of drawing it, and stops the spinner', async () => {
    vi.spyOn(history, 'fetchSeries').mockResolvedValue([[Date.now() - 1_000, 21.5]])
    const wrapper = mountPanel()
    await flushPromises()
    expect(wrapper.find('[data-test="line-chart"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="chart-empty"]').text()).toContain('Only one reading so far')
    expect(spinning(wrapper)).toBe(false)
  })

  it('says there are no readings in the range, in Chinese too', async () => {
    vi.spyOn(history, 'fetchSeries').mockResolvedValue([])
    const wrapper = mountPanel()
    // The app store applies the browser's language when it starts; switch after it.
    i18n.global.locale.value = 'zh-CN'
    await flushPromises()
    expect(wrapper.find('[data-test="line-chart"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="chart-empty"]').text()).toContain('该时间范围内没有读数')
    expect(spinning(wrapper)).toBe(false)
  })

  it('stops the spinner when the history cannot be fetched', async () => {
    vi.spyOn(history, 'fetchSeries').mockRejectedValue(new Error('the hub is away'))
    const wrapper = mountPanel()
    await flushPromises()
    expect(wrapper.find('[data-test="chart-error"]').text()).toContain('the hub is away')
    expect(spinning(wrapper)).toBe(false)
  })

  it('spins while a load is on its way, and a stale answer neither shows nor stops it', async () => {
    const answers: ((points: [number, number][]) => void)[] = []
    vi.spyOn(history, 'fetchSeries').mockImplementation(() => new Promise((resolve) => answers.push(resolve)))
    const wrapper = mountPanel()
    await flushPromises()
    expect(spinning(wrapper)).toBe(true)
    await wrapper.setProps({ refreshKey: 1 })
    await flushPromises()
    answers[0]([[1, 1], [2, 2]])
    await flushPromises()
    expect(spinning(wrapper)).toBe(true)
    answers[1]([[3, 3]])
    await flushPromises()
    expect(spinning(wrapper)).toBe(false)
    expect(wrapper.find('[data-test="chart-empty"]').text()).toContain('Only one reading so far')
  })
})

describe('LineChart', () => {
  it('draws no line through a single point in any series', () => {
    const pinia = createPinia()
    setActivePinia(pinia)
    const wrapper = mount(LineChart, { props: { series: [{ name: 'a', data: [[1, 1]] }, { name: 'b', data: [] }] }, global: { plugins: [pinia, i18n] } })
    expect(wrapper.find('[data-test="line-chart"]').exists()).toBe(false)
    expect(wrapper.text()).toContain('Only one reading so far')
    expect(wrapper.find('[data-test="chart-empty"]').attributes('data-points')).toBe('1')
  })

  it('says on its root how many points it draws (the e2e tests compare it with the hub\'s answer)', () => {
    const pinia = createPinia()
    setActivePinia(pinia)
    const series = [{ name: 'a', data: [[1, 1], [2, 2], [3, 3]] as [number, number][] }, { name: 'b', data: [[1, 5], [2, 6]] as [number, number][] }]
    // ECharts itself needs a real canvas (the e2e tests draw it): a stub keeps the attributes.
    const wrapper = mount(LineChart, { props: { series }, global: { plugins: [pinia, i18n], stubs: { echarts: true, VChart: true } } })
    expect(wrapper.find('[data-test="line-chart"]').attributes('data-points')).toBe('5')
  })
})

import { flushPromises, mount } from '@vue/test-utils'
import { NMessageProvider } from 'naive-ui'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import DeviceCard from '@/components/DeviceCard.vue'
import { i18n } from '@/locales'
import { useDeviceStore } from '@/stores/devices'
import { useLiveStore } from '@/stores/live'
import type { Device } from '@/types/models'

const lamp: Device = {
  id: 'hall-lamp', name: 'Hall lamp', kind: 'light', room: 'hall', application: 'default', metadata: {}, enabled: true,
  created_at_ms: 0, live: { is_online: true, last_seen_ms: Date.now(), last_report_data: { temperature: 21.5 } as never },
}

function mountCard(device: Device) {
  const pinia = createPinia()
  setActivePinia(pinia)
  useLiveStore().seed(device)
  const Host = defineComponent(() => () => h(NMessageProvider, () => h(DeviceCard, { device })))
  return mount(Host, { global: { plugins: [pinia, i18n], stubs: { RouterLink: { template: '<a><slot /></a>' } } } })
}

beforeEach(() => {
  i18n.global.locale.value = 'en'
})

describe('DeviceCard', () => {
  it('shows the name, online dot and readings', () => {
    const wrapper = mountCard(lamp)
    expect(wrapper.text()).toContain('Hall lamp')
    expect(wrapper.find('[data-test="online-hall-lamp"]').attributes('data-online')).toBe('true')
    expect(wrapper.find('[data-test="reading-hall-lamp-temperature"]').text()).toBe('21.5')
  })

  it('sends switch, shows pending, then the state the device reported', async () => {
    const wrapper = mountCard(lamp)
    const devices = useDeviceStore()
    const live = useLiveStore()
    const setSwitch = vi.spyOn(devices, 'setSwitch').mockImplementation(async (id, on) => {
      live.trackSwitch(id, { id: 'c1', status: 'pending' }, on)
      return { id: 'c1', status: 'pending' } as never
    })
    await wrapper.find('[data-test="switch-hall-lamp"]').trigger('click')
    await flushPromises()
    expect(setSwitch).toHaveBeenCalledWith('hall-lamp', true)
    expect(wrapper.find('[data-test="pending-hall-lamp"]').exists()).toBe(true)
    live.applyMessage('devices/hall-lamp/command-status', JSON.stringify({ id: 'c1', device: 'hall-lamp', name: 'switch', status: 'acked', reported_state: { on: true } }))
    await flushPromises()
    expect(wrapper.find('[data-test="pending-hall-lamp"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="state-hall-lamp"]').text()).toBe('On')
  })

  it('speaks Chinese when the locale is zh-CN', async () => {
    i18n.global.locale.value = 'zh-CN'
    const wrapper = mountCard(lamp)
    expect(wrapper.text()).toContain('灯')
    expect(wrapper.text()).toContain('最后在线')
  })

  it('reads a device seen a moment ago, by a clock a little ahead, as just now', () => {
    const seenAhead: Device = { ...lamp, live: { ...lamp.live, last_seen_ms: Date.now() + 1_000 } }
    expect(mountCard(seenAhead).text()).toContain('Last seen just now')
    i18n.global.locale.value = 'zh-CN'
    expect(mountCard(seenAhead).text()).toContain('最后在线 刚刚')
  })

  it('has no switch for a sensor', () => {
    const wrapper = mountCard({ ...lamp, id: 'temp', kind: 'sensor' })
    expect(wrapper.find('[data-test="switch-temp"]').exists()).toBe(false)
  })
})

import { flushPromises, mount } from '@vue/test-utils'
import { NMessageProvider } from 'naive-ui'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import CapabilityControls from '@/components/CapabilityControls.vue'
import { i18n } from '@/locales'
import { useCapabilityStore } from '@/stores/capabilities'
import { useDeviceStore } from '@/stores/devices'
import { useLiveStore } from '@/stores/live'
import type { Device } from '@/types/models'

const device = (id: string, kind: string, data: Record<string, unknown>, metadata: Record<string, unknown> = {}): Device => ({
  id, name: id, kind, room: null, application: 'default', metadata: metadata as never, enabled: true,
  created_at_ms: 0, live: { is_online: true, last_seen_ms: Date.now(), last_report_data: data as never },
})

function mountControls(subject: Device) {
  const pinia = createPinia()
  setActivePinia(pinia)
  useLiveStore().seed(subject)
  const Host = defineComponent(() => () => h(NMessageProvider, () => h(CapabilityControls, { device: subject })))
  return mount(Host, { attachTo: document.body, global: { plugins: [pinia, i18n] } })
}

/** Stands in for the POST: records the command and tracks it as sent. */
function fakeSend() {
  const sent: { control: string; name: string; params: Record<string, unknown> }[] = []
  const devices = useDeviceStore()
  const live = useLiveStore()
  vi.spyOn(devices, 'sendControl').mockImplementation(async (id, control, request) => {
    sent.push({ control, ...request })
    live.trackControl(id, control, { id: `c${sent.length}`, status: 'sent' }, request)
    return { id: `c${sent.length}`, status: 'sent' } as never
  })
  return sent
}

beforeEach(() => {
  i18n.global.locale.value = 'en'
  document.body.innerHTML = ''
})

describe('CapabilityControls', () => {
  it('shows a dimmer\'s confirmed brightness, the asked one as pending, then what the device reported', async () => {
    const wrapper = mountControls(device('lamp', 'light', { on: true, brightness: 80 }))
    const live = useLiveStore()
    expect(wrapper.find('[data-test="value-lamp-brightness"]').text()).toBe('80 %')
    live.trackControl('lamp', 'brightness', { id: 'c1', status: 'sent' }, { name: 'brightness', params: { brightness: 40 } })
    await flushPromises()
    expect(wrapper.find('[data-test="pending-lamp-brightness"]').text()).toContain('40 %')
    expect(wrapper.find('[data-test="value-lamp-brightness"]').text()).toBe('80 %')
    live.applyMessage('devices/lamp/command-status', JSON.stringify({ id: 'c1', device: 'lamp', name: 'brightness', status: 'acked', reported_state: { on: true, brightness: 40 } }))
    await flushPromises()
    expect(wrapper.find('[data-test="pending-lamp-brightness"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="value-lamp-brightness"]').text()).toBe('40 %')
  })

  it('asks before unlocking, and sends nothing when cancelled', async () => {
    const wrapper = mountControls(device('door', 'lock', { locked: true, battery: 90 }))
    const sent = fakeSend()
    expect(wrapper.find('[data-test="value-door-locked"]').text()).toContain('Locked')
    await wrapper.find('[data-test="unlock-door"]').trigger('click')
    await flushPromises()
    const cancel = document.querySelector<HTMLElement>('[data-test="unlock-cancel-door"]')
    expect(document.body.textContent).toContain('Unlock door?')
    cancel!.click()
    await flushPromises()
    expect(sent).toEqual([])
    await wrapper.find('[data-test="unlock-door"]').trigger('click')
    await flushPromises()
    document.querySelector<HTMLElement>('[data-test="unlock-confirm-door"]')!.click()
    await flushPromises()
    expect(sent).toEqual([{ control: 'lock', name: 'unlock', params: {} }])
    expect(wrapper.find('[data-test="pending-door-lock"]').text()).toContain('Unlocked')
    expect(wrapper.find('[data-test="value-door-locked"]').text()).toContain('Locked')
  })

  it('draws what the device declared on its topic: sensors with units, binary sensors as states, a cover', async () => {
    const wrapper = mountControls(device('multi', 'sensor', { temperature: 21.5, motion: true, position: 30 }))
    useCapabilityStore().applyMessage('devices/multi/capabilities', JSON.stringify([
      { type: 'sensor', key: 'temperature', device_class: 'temperature' },
      { type: 'binary_sensor', key: 'motion', device_class: 'motion' },
      { type: 'cover' },
    ]))
    const sent = fakeSend()
    await flushPromises()
    expect(wrapper.find('[data-test="reading-multi-temperature"]').text()).toBe('21.5 °C')
    expect(wrapper.find('[data-test="reading-multi-motion"]').text()).toBe('Motion detected')
    expect(wrapper.find('[data-test="value-multi-position"]').text()).toBe('30 %')
    await wrapper.find('[data-test="cover-close-multi"]').trigger('click')
    await flushPromises()
    expect(sent).toEqual([{ control: 'cover', name: 'close', params: {} }])
    i18n.global.locale.value = 'zh-CN'
    await flushPromises()
    expect(wrapper.find('[data-test="reading-multi-motion"]').text()).toBe('检测到有人')
  })

  it('sends a thermostat\'s mode from its declared modes', async () => {
    const wrapper = mountControls(device('heat', 'thermostat', { temperature: 20, setpoint: 21, mode: 'heat' }, {
      capabilities: [{ type: 'thermostat', min: 10, max: 25, step: 0.5, modes: ['heat', 'off'] }],
    }))
    fakeSend()
    await flushPromises()
    expect(wrapper.find('[data-test="value-heat-setpoint"]').text()).toBe('21 °C')
    expect(wrapper.find('[data-test="value-heat-mode"]').text()).toBe('Heat')
    expect(wrapper.find('[data-test="mode-heat"]').exists()).toBe(true)
  })

  it('has nothing for a plain sensor, nor for a camera (its picture is drawn elsewhere)', () => {
    const wrapper = mountControls(device('t', 'sensor', { temperature: 20 }))
    expect(wrapper.find('[data-test="controls-t"]').exists()).toBe(false)
    expect(mountControls(device('cam', 'camera', {})).find('[data-test="controls-cam"]').exists()).toBe(false)
  })
})

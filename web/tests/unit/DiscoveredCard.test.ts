import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import { i18n } from '@/locales'
import type { DiscoveredDevice } from '@/types/discovered'
import DiscoveredCard from '@/views/discovered/modules/DiscoveredCard.vue'

const NOW = 1_700_000_000_000
const plug: DiscoveredDevice = {
  app: 'tasmota', id: 'tasmota_1A2B3C', group: 'home', name: 'Desk plug', manufacturer: 'Tasmota', model: 'Sonoff S31', sw_version: '14.1.0',
  kind: 'switch', online: false, first_seen_ms: NOW - 3 * 60_000, last_seen_ms: NOW - 2_000,
  components: [
    { component: 'switch', object_id: 'RL_1', name: 'Relay', config_topic: 'homeassistant/switch/1A2B3C_RL_1/config', config: {} },
    { component: 'sensor', object_id: 'ENERGY_Power', config_topic: 'homeassistant/sensor/1A2B3C_ENERGY_Power/config', config: {}, unsupported: ['value_template {{ value_json.ENERGY.Power | float }} is not supported'] },
  ],
  capabilities: [{ type: 'switch' }, { type: 'sensor', key: 'power', unit: 'W', device_class: 'power' }, { type: 'binary_sensor', key: 'tamper' }],
}

const mountCard = (device: DiscoveredDevice) => mount(DiscoveredCard, { props: { device, now: NOW, busy: false }, global: { plugins: [i18n] } })

describe('DiscoveredCard', () => {
  it('shows what was announced, in English and in Chinese', async () => {
    i18n.global.locale.value = 'en'
    const wrapper = mountCard(plug)
    expect(wrapper.text()).toContain('Desk plug')
    expect(wrapper.find('[data-test="discovered-model-tasmota_1A2B3C"]').text()).toBe('Tasmota · Sonoff S31 (14.1.0)')
    // Known capabilities by name, a sensor with its unit, an unknown one by its key.
    expect(wrapper.find('[data-test="discovered-capabilities-tasmota_1A2B3C"]').text()).toBe('SwitchPower (W)tamper')
    expect(wrapper.text()).toContain('switch: Relay')
    expect(wrapper.find('[data-test="discovered-app-tasmota_1A2B3C"]').text()).toBe('tasmota')
    expect(wrapper.find('[data-test="discovered-unsupported-tasmota_1A2B3C"]').text()).toBe('sensor: value_template {{ value_json.ENERGY.Power | float }} is not supported')
    expect(wrapper.find('[data-test="discovered-online-tasmota_1A2B3C"]').text()).toBe('Offline')
    expect(wrapper.text()).toContain('3 minutes ago')
    expect(wrapper.text()).toContain('just now')
    i18n.global.locale.value = 'zh-CN'
    await wrapper.vm.$nextTick()
    expect(wrapper.find('[data-test="discovered-capabilities-tasmota_1A2B3C"]').text()).toBe('开关功率 (W)tamper')
    expect(wrapper.find('[data-test="discovered-online-tasmota_1A2B3C"]').text()).toBe('离线')
    i18n.global.locale.value = 'en'
  })

  it('names a device without a name by its discovery id, and says when availability is unknown', () => {
    const wrapper = mountCard({ ...plug, name: null, online: null, capabilities: [], components: [] })
    expect(wrapper.find('[data-test="discovered-unsupported-tasmota_1A2B3C"]').exists()).toBe(false)
    expect(wrapper.text()).toContain('tasmota_1A2B3C')
    expect(wrapper.find('[data-test="discovered-online-tasmota_1A2B3C"]').text()).toBe('Availability unknown')
    expect(wrapper.find('[data-test="discovered-capabilities-tasmota_1A2B3C"]').text()).toBe('none')
  })

  it('asks for adoption', async () => {
    const wrapper = mountCard(plug)
    await wrapper.find('[data-test="discovered-adopt-tasmota_1A2B3C"]').trigger('click')
    expect(wrapper.emitted('adopt')).toHaveLength(1)
  })
})

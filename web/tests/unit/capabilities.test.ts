import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { useCapabilityStore } from '@/stores/capabilities'
import { useLiveStore } from '@/stores/live'
import {
  brightnessCommand,
  capabilitiesTopic,
  colorTempCommand,
  controlledKeys,
  coverCommand,
  hexToRgb,
  impliedCapabilities,
  lockCommand,
  modeCommand,
  parseCapabilities,
  parseCapabilitiesTopic,
  positionCommand,
  readBool,
  resolveCapabilities,
  rgbCommand,
  rgbToHex,
  sensorUnit,
  setpointCommand,
  snapToStep,
  switchCommand,
} from '@/utils/capabilities'

beforeEach(() => setActivePinia(createPinia()))

describe('resolving capabilities', () => {
  const bulb = { id: 'bulb', kind: 'light', metadata: {} as Record<string, unknown> }

  it('takes the kind when nothing is declared', () => {
    expect(resolveCapabilities(bulb)).toEqual({ capabilities: [{ type: 'switch' }, { type: 'dimmer' }], source: 'kind' })
    expect(impliedCapabilities('relay')).toEqual([{ type: 'switch' }])
    expect(impliedCapabilities('blind')).toEqual([{ type: 'cover' }])
    expect(impliedCapabilities('smoke')).toEqual([{ type: 'binary_sensor', key: 'smoke', device_class: 'smoke' }])
    expect(impliedCapabilities('sensor')).toEqual([])
  })

  it('prefers what the device declared on its topic over its kind', () => {
    const declared = JSON.stringify([{ type: 'switch' }, { type: 'color', modes: ['temp'] }])
    expect(resolveCapabilities(bulb, declared)).toEqual({
      capabilities: [{ type: 'switch' }, { type: 'color', modes: ['temp'] }],
      source: 'device',
    })
  })

  it('prefers metadata over everything', () => {
    const device = { ...bulb, metadata: { capabilities: [{ type: 'lock' }] } }
    expect(resolveCapabilities(device, [{ type: 'switch' }])).toEqual({ capabilities: [{ type: 'lock' }], source: 'metadata' })
  })

  it('reads a declaration leniently: unknown types and incomplete entries are skipped', () => {
    expect(parseCapabilities([
      { type: 'switch' },
      { type: 'toaster' },
      { type: 'sensor' },
      { type: 'sensor', key: 'power_w', unit: 'W', device_class: 'power' },
      'dimmer',
      { type: 'thermostat', min: 10, max: 'hot', modes: ['heat', 3] },
      { type: 'camera', mjpeg: 'javascript:alert(1)', hls: 'https://cam/index.m3u8', snapshot: 'mqtt' },
    ])).toEqual([
      { type: 'switch' },
      { type: 'sensor', key: 'power_w', unit: 'W', device_class: 'power' },
      { type: 'thermostat', min: 10, max: undefined, step: undefined, modes: ['heat'] },
      { type: 'camera', mjpeg: undefined, hls: 'https://cam/index.m3u8', snapshot: 'mqtt' },
    ])
    expect(parseCapabilities('not json')).toBeNull()
    expect(parseCapabilities({ type: 'switch' })).toBeNull()
    expect(parseCapabilities([{ type: 'color' }])).toEqual([{ type: 'color', modes: ['rgb'] }])
  })

  it('knows its topic and no other', () => {
    expect(capabilitiesTopic('lamp-1')).toBe('devices/lamp-1/capabilities')
    expect(parseCapabilitiesTopic('devices/lamp-1/capabilities')).toBe('lamp-1')
    expect(parseCapabilitiesTopic('devices/lamp-1/data')).toBeNull()
    expect(parseCapabilitiesTopic('devices/a/b/capabilities')).toBeNull()
    expect(parseCapabilitiesTopic('devices/+/capabilities')).toBeNull()
    expect(parseCapabilitiesTopic('other/lamp/capabilities')).toBeNull()
  })

  it('keeps the last retained declaration per device; an empty one clears it', () => {
    const store = useCapabilityStore()
    expect(store.applyMessage('devices/bulb/data', '{}')).toBe(false)
    expect(store.applyMessage('devices/bulb/capabilities', '[{"type":"lock"}]')).toBe(true)
    expect(store.resolve(bulb)).toEqual({ capabilities: [{ type: 'lock' }], source: 'device' })
    store.applyMessage('devices/bulb/capabilities', '')
    expect(store.resolve(bulb).source).toBe('kind')
  })

  it('names the state keys the controls show', () => {
    const keys = controlledKeys([{ type: 'dimmer' }, { type: 'thermostat' }, { type: 'sensor', key: 'power_w' }])
    expect([...keys].sort()).toEqual(['brightness', 'mode', 'power_w', 'setpoint', 'temperature'])
  })
})

describe('command params', () => {
  it('follows the vocabulary', () => {
    expect(switchCommand(true)).toEqual({ name: 'switch', params: { on: true } })
    expect(brightnessCommand(40)).toEqual({ name: 'brightness', params: { brightness: 40 } })
    expect(brightnessCommand(140.6)).toEqual({ name: 'brightness', params: { brightness: 100 } })
    expect(brightnessCommand(-3)).toEqual({ name: 'brightness', params: { brightness: 0 } })
    expect(rgbCommand({ r: 255.4, g: -1, b: 300 })).toEqual({ name: 'color', params: { r: 255, g: 0, b: 255 } })
    expect(colorTempCommand(9000)).toEqual({ name: 'color', params: { color_temp_k: 6500 } })
    expect(modeCommand('heat')).toEqual({ name: 'mode', params: { mode: 'heat' } })
    expect(positionCommand(40)).toEqual({ name: 'position', params: { position: 40 } })
    expect(coverCommand('stop')).toEqual({ name: 'stop', params: {} })
    expect(lockCommand(false)).toEqual({ name: 'unlock', params: {} })
    expect(lockCommand(true)).toEqual({ name: 'lock', params: {} })
  })

  it('keeps a setpoint within the thermostat\'s limits, on its step', () => {
    expect(setpointCommand(21.3)).toEqual({ name: 'setpoint', params: { setpoint: 21.5 } })
    expect(setpointCommand(40)).toEqual({ name: 'setpoint', params: { setpoint: 30 } })
    const fine = { type: 'thermostat' as const, min: 16, max: 26, step: 0.1 }
    expect(setpointCommand(21.27, fine)).toEqual({ name: 'setpoint', params: { setpoint: 21.3 } })
    expect(setpointCommand(3, fine)).toEqual({ name: 'setpoint', params: { setpoint: 16 } })
    expect(snapToStep(7, 5, 30, 2)).toBe(7)
  })

  it('converts colours and reads yes/no states as devices send them', () => {
    expect(rgbToHex({ r: 255, g: 128, b: 0 })).toBe('#ff8000')
    expect(hexToRgb('#FF8000')).toEqual({ r: 255, g: 128, b: 0 })
    expect(hexToRgb('#f80')).toEqual({ r: 255, g: 136, b: 0 })
    expect(hexToRgb('#ff8000cc')).toEqual({ r: 255, g: 128, b: 0 })
    expect(hexToRgb('red')).toBeNull()
    expect([readBool(true), readBool(1), readBool(0), readBool('on')]).toEqual([true, true, false, null])
    expect(sensorUnit({ type: 'sensor', key: 't', device_class: 'temperature' })).toBe('°C')
    expect(sensorUnit({ type: 'sensor', key: 't', unit: 'K', device_class: 'temperature' })).toBe('K')
  })
})

describe('pending controls', () => {
  it('show the value asked for until the device confirms, then the reported state', () => {
    const live = useLiveStore()
    live.seed({ id: 'lamp', live: { is_online: true, last_report_data: { brightness: 80 } } } as never)
    // The ack can beat the POST's reply: it waits for the command to be tracked.
    live.applyMessage('devices/lamp/command-status', JSON.stringify({ id: 'c2', device: 'lamp', name: 'brightness', status: 'sent' }))
    live.trackControl('lamp', 'brightness', { id: 'c2', status: 'pending' }, brightnessCommand(40))
    expect(live.controlRequest('lamp', 'brightness')?.status).toBe('sent')
    expect(live.devices.lamp.readings.brightness).toBe(80)
    live.applyMessage('devices/lamp/command-status', JSON.stringify({
      id: 'c2', device: 'lamp', name: 'brightness', status: 'acked', reported_state: { on: true, brightness: 40 },
    }))
    expect(live.controlRequest('lamp', 'brightness')?.status).toBe('acked')
    expect(live.devices.lamp.readings.brightness).toBe(40)
    expect(live.devices.lamp.on).toBe(true)
  })

  it('reads a switch reported as 1/0, as some firmware says it', () => {
    const live = useLiveStore()
    live.applyMessage('devices/plug/data', '{"on": 1}')
    expect(live.devices.plug.on).toBe(true)
    live.applyMessage('devices/plug/data', '{"on": 0}')
    expect(live.devices.plug.on).toBe(false)
    live.applyMessage('devices/plug/data', '{"power_w": 3}')
    expect(live.devices.plug.on).toBe(false)
  })

  it('says why when the device refuses', () => {
    const live = useLiveStore()
    live.trackControl('lamp', 'setpoint', { id: 'c3', status: 'sent' }, setpointCommand(22))
    live.applyMessage('devices/lamp/command-status', JSON.stringify({ id: 'c3', device: 'lamp', name: 'setpoint', status: 'failed', result: 'out of range' }))
    expect(live.controlRequest('lamp', 'setpoint')).toMatchObject({ status: 'failed', error: 'out of range' })
  })
})

import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { useLiveStore } from '@/stores/live'
import type { Device } from '@/types/models'

beforeEach(() => setActivePinia(createPinia()))

const status = (id: string, state: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, device: 'lamp', name: 'switch', status: state, ...extra })

describe('live store', () => {
  it('merges data into readings and marks the device online', () => {
    const live = useLiveStore()
    live.applyMessage('devices/kitchen/data', '{"temperature": 21.5}', 1000)
    live.applyMessage('devices/kitchen/data', '{"humidity": 40}', 2000)
    expect(live.devices.kitchen).toMatchObject({ online: true, lastSeenMs: 2000, readings: { temperature: 21.5, humidity: 40 } })
  })

  it("keeps a payload's device time stamp `ts` out of the readings, from MQTT and from the API", () => {
    const live = useLiveStore()
    live.applyMessage('devices/cellar/data', '{"ts": 1796632091740, "temperature": 12.5}', 1000)
    expect(live.devices.cellar.readings).toEqual({ temperature: 12.5 })
    live.seed({ id: 'attic', live: { is_online: true, last_report_data: { ts: '2026-12-07T08:00:00Z', humidity: 40 } } } as unknown as Device)
    expect(live.devices.attic.readings).toEqual({ humidity: 40 })
  })

  it('follows online/offline status messages', () => {
    const live = useLiveStore()
    live.applyMessage('devices/kitchen/status', 'online')
    expect(live.devices.kitchen.online).toBe(true)
    live.applyMessage('devices/kitchen/status', 'offline')
    expect(live.devices.kitchen.online).toBe(false)
  })

  it('ignores topics outside devices/{id}/…', () => {
    const live = useLiveStore()
    live.applyMessage('$SYS/broker/uptime', '1')
    live.applyMessage('devices/a/b/data', '{}')
    expect(Object.keys(live.devices)).toEqual([])
  })

  it('keeps a switch pending until the device acks, then shows the reported state', () => {
    const live = useLiveStore()
    live.trackSwitch('lamp', { id: 'c1', status: 'pending' }, true)
    expect(live.isPending('lamp')).toBe(true)
    live.applyMessage('devices/lamp/command-status', status('c1', 'sent'))
    expect(live.isPending('lamp')).toBe(true)
    expect(live.devices.lamp.on).toBe(null)
    live.applyMessage('devices/lamp/command-status', status('c1', 'acked', { reported_state: { on: true } }))
    expect(live.isPending('lamp')).toBe(false)
    expect(live.devices.lamp.on).toBe(true)
  })

  it('applies an ack that arrives before the POST reply', () => {
    const live = useLiveStore()
    live.applyMessage('devices/lamp/command-status', status('c2', 'acked', { reported_state: { on: false } }))
    live.trackSwitch('lamp', { id: 'c2', status: 'pending' }, false)
    expect(live.isPending('lamp')).toBe(false)
    expect(live.switching.lamp.status).toBe('acked')
  })

  it('never goes back from a final status and keeps the old state on failure', () => {
    const live = useLiveStore()
    live.applyMessage('devices/lamp/data', '{"on": false}')
    live.trackSwitch('lamp', { id: 'c3', status: 'pending' }, true)
    live.applyCommand({ id: 'c3', device: 'lamp', name: 'switch', status: 'timeout' })
    live.applyCommand({ id: 'c3', device: 'lamp', name: 'switch', status: 'sent' })
    expect(live.switching.lamp.status).toBe('timeout')
    expect(live.devices.lamp.on).toBe(false)
  })
})

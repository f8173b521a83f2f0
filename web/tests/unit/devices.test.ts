import { describe, expect, it } from 'vitest'
import { filterDevices, groupByRoom, isSwitchable } from '@/stores/devices'
import type { Device } from '@/types/models'

function device(id: string, room: string | null, kind = 'sensor', online = false): Device {
  return {
    id, name: id.toUpperCase(), room, kind, application: 'default', metadata: {}, enabled: true, created_at_ms: 0,
    live: { is_online: online },
  }
}

const all = [device('kitchen-temp', 'kitchen'), device('hall-lamp', 'hall', 'light', true), device('plug', null, 'relay')]

describe('device filters', () => {
  it('searches id and name case-insensitively', () => {
    expect(filterDevices(all, { search: 'LAMP' }, {}).map((d) => d.id)).toEqual(['hall-lamp'])
  })

  it('filters by room, kind and live online state', () => {
    expect(filterDevices(all, { room: 'kitchen' }, {}).map((d) => d.id)).toEqual(['kitchen-temp'])
    expect(filterDevices(all, { kind: 'relay' }, {}).map((d) => d.id)).toEqual(['plug'])
    const live = { plug: { online: true, lastSeenMs: 1, status: null, readings: {}, on: null } }
    expect(filterDevices(all, { online: true }, live).map((d) => d.id)).toEqual(['hall-lamp', 'plug'])
  })

  it('groups by room with the room-less last', () => {
    expect(groupByRoom(all).map((r) => r.room)).toEqual(['hall', 'kitchen', null])
  })

  it('knows which kinds switch', () => {
    expect(all.map(isSwitchable)).toEqual([false, true, true])
  })
})

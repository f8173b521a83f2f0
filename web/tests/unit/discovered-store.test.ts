import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useDeviceStore } from '@/stores/devices'
import { DISCOVERED_POLL_MS, adoptRequest, canSeeDiscovered, discoveredKey, useDiscoveredStore } from '@/stores/discovered'
import type { DiscoveredDevice } from '@/types/discovered'

type Handler = [number, unknown] | (() => [number, unknown])

/** A fake hub: `METHOD url` → [status, body]; records every call with its body. */
function api(routes: Record<string, Handler>) {
  const calls: string[] = []
  vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => {
    const key = `${init.method} ${url}`
    calls.push(init.body ? `${key} ${init.body}` : key)
    const route = routes[key]
    const [status, body] = typeof route === 'function' ? route() : route ?? [404, { error: { code: 'no_route', message: url } }]
    return new Response(body === undefined ? null : JSON.stringify(body), { status })
  }))
  return calls
}

function discovered(id: string, firstSeen: number, app = 'tasmota'): DiscoveredDevice {
  return {
    app, id, group: 'home', name: `Plug ${id}`, manufacturer: 'Tasmota', model: 'Sonoff Basic', kind: 'switch',
    components: [{ component: 'switch', object_id: `${id}_RL_1`, config_topic: `homeassistant/switch/${id}_RL_1/config`, config: {} }], capabilities: [{ type: 'switch' }],
    online: true, first_seen_ms: firstSeen, last_seen_ms: firstSeen,
  }
}

const adoptedDevice = {
  id: 'plug-1', application: 'lights', name: 'Desk lamp', kind: 'switch', room: 'Office', enabled: true, metadata: {},
  created_at_ms: 1, live: { is_online: true, last_seen_ms: 1, readings: {} },
}

beforeEach(() => {
  localStorage.clear()
  setActivePinia(createPinia())
})
afterEach(() => {
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

describe('discovered devices', () => {
  it('are for hub admins and group owners and admins', () => {
    expect(canSeeDiscovered(true, 'viewer')).toBe(true)
    expect(['owner', 'admin', 'member', 'viewer', null].map((role) => canSeeDiscovered(false, role))).toEqual([true, true, false, false, false])
  })

  it('lists the group\'s, newest announcement first, and counts them', async () => {
    const calls = api({ 'GET /api/v1/discovered?group=home': [200, [discovered('old', 1), discovered('new', 5), discovered('new', 5, 'z2m')]] })
    const store = useDiscoveredStore()
    await store.load('home')
    expect(calls).toEqual(['GET /api/v1/discovered?group=home'])
    expect(store.devices.map(discoveredKey)).toEqual(['tasmota/new', 'z2m/new', 'tasmota/old'])
    expect(store.count).toBe(3)
    expect(store.error).toBe('')
  })

  it('drops an older group\'s answer that arrives after a switch of group', async () => {
    let answerHome: (value: Response) => void = () => {}
    vi.stubGlobal('fetch', vi.fn((url: string) => url.includes('group=home')
      ? new Promise<Response>((resolve) => (answerHome = resolve))
      : Promise.resolve(new Response(JSON.stringify([discovered('cabin-plug', 1)]), { status: 200 }))))
    const store = useDiscoveredStore()
    const slow = store.load('home')
    await store.load('cabin')
    answerHome(new Response(JSON.stringify([discovered('home-plug', 1)]), { status: 200 }))
    await slow
    expect(store.group).toBe('cabin')
    expect(store.devices.map((device) => device.id)).toEqual(['cabin-plug'])
  })

  it('shows a refusal to list', async () => {
    api({ 'GET /api/v1/discovered?group=home': [403, { error: { code: 'forbidden', message: 'discovered devices are for group admins' } }] })
    const store = useDiscoveredStore()
    await store.load('home')
    expect(store.error).toBe('discovered devices are for group admins')
    expect(store.devices).toEqual([])
  })

  it('sends only what was filled in when adopting', () => {
    expect(adoptRequest({ app: 'lights', id: '  ', name: '', room: ' ' })).toEqual({ app: 'lights' })
    expect(adoptRequest({ app: 'lights', id: ' plug-1 ', name: 'Desk lamp ', room: 'Office' })).toEqual({ app: 'lights', id: 'plug-1', name: 'Desk lamp', room: 'Office' })
  })

  it('adopts one: it leaves the list and joins the device store, which is not read again', async () => {
    const calls = api({
      'GET /api/v1/discovered?group=home': [200, [discovered('tasmota_1A2B3C', 1), discovered('other', 2)]],
      'POST /api/v1/discovered/tasmota/tasmota_1A2B3C/adopt': [201, adoptedDevice],
    })
    const store = useDiscoveredStore()
    await store.load('home')
    const device = await store.adopt(store.devices[1], { app: 'lights', id: 'plug-1', name: 'Desk lamp', room: 'Office' })
    expect(device?.id).toBe('plug-1')
    expect(calls[1]).toBe('POST /api/v1/discovered/tasmota/tasmota_1A2B3C/adopt {"app":"lights","id":"plug-1","name":"Desk lamp","room":"Office"}')
    expect(store.devices.map((known) => known.id)).toEqual(['other'])
    expect(store.count).toBe(1)
    const devices = useDeviceStore()
    expect(devices.devices.map((known) => known.id)).toEqual(['plug-1'])
    // A list read now could answer after the hub's live "online" and undo it.
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(calls).toHaveLength(2)
  })

  it('keeps a refused adoption in the list with the field the hub named', async () => {
    api({
      'GET /api/v1/discovered?group=home': [200, [discovered('plug', 1)]],
      'POST /api/v1/discovered/tasmota/plug/adopt': [409, { error: { code: 'conflict', message: 'a device with this id exists', field: 'id' } }],
    })
    const store = useDiscoveredStore()
    await store.load('home')
    expect(await store.adopt(store.devices[0], { app: 'lights', id: 'taken' })).toBeUndefined()
    expect(store.devices).toHaveLength(1)
    expect(store.error).toBe('id: a device with this id exists')
    expect(store.errorField).toBe('id')
    expect(store.errorMessage).toBe('a device with this id exists')
    expect(useDeviceStore().devices).toEqual([])
    store.clearError()
    expect([store.error, store.errorField, store.errorMessage]).toEqual(['', null, ''])
  })

  it('forgets one, with the discovering app and id in the path', async () => {
    const calls = api({
      'GET /api/v1/discovered?group=home': [200, [discovered('a/b', 1, 'z2m bridge'), discovered('c', 2)]],
      'DELETE /api/v1/discovered/z2m%20bridge/a%2Fb': [204, undefined],
    })
    const store = useDiscoveredStore()
    await store.load('home')
    expect(await store.forget({ app: 'z2m bridge', id: 'a/b' })).toBe(true)
    expect(calls[1]).toBe('DELETE /api/v1/discovered/z2m%20bridge/a%2Fb')
    expect(store.devices.map((device) => device.id)).toEqual(['c'])
  })

  it('polls while the page is open, and not after', async () => {
    vi.useFakeTimers()
    let reads = 0
    api({ 'GET /api/v1/discovered?group=home': () => [200, ++reads > 1 ? [discovered('plug', 1)] : []] })
    const store = useDiscoveredStore()
    await store.load('home')
    expect(store.count).toBe(0)
    store.startPolling()
    await vi.advanceTimersByTimeAsync(DISCOVERED_POLL_MS - 1)
    expect(store.loading).toBe(false)
    vi.advanceTimersByTime(1)
    // A poll shows no spinner: the list just follows.
    expect(store.loading).toBe(false)
    await vi.advanceTimersByTimeAsync(0)
    expect(store.count).toBe(1)
    store.stopPolling()
    await vi.advanceTimersByTimeAsync(DISCOVERED_POLL_MS * 3)
    expect(reads).toBe(2)
  })
})

import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useAppsStore } from '@/stores/apps'

beforeEach(() => setActivePinia(createPinia()))
afterEach(() => vi.unstubAllGlobals())

describe('discovery logins on the Applications page', () => {
  it('are created with the discovery flag, and ordinary ones without it', async () => {
    const bodies: unknown[] = []
    const login = { id: 'tasmota', group: 'home', name: 'Tasmota', description: '', mqtt_key: 'app-k', created_at_ms: 1, my_permission: 'manage', discovery: true }
    vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => {
      if (init.method === 'POST') bodies.push(JSON.parse(String(init.body)))
      if (init.method === 'POST' && url === '/api/v1/apps') return new Response(JSON.stringify({ app: login, mqtt_key: 'app-k', mqtt_secret: 's' }), { status: 201 })
      if (url === '/api/v1/apps?group=home') return new Response(JSON.stringify([login]), { status: 200 })
      return new Response(JSON.stringify([]), { status: 200 })
    }))
    const store = useAppsStore()
    await store.load('home')
    expect(await store.create({ id: ' tasmota ', name: 'Tasmota', discovery: true })).toBe(true)
    expect(await store.create({ id: 'lights' })).toBe(true)
    expect(bodies).toEqual([{ id: 'tasmota', name: 'Tasmota', discovery: true, group: 'home' }, { id: 'lights', group: 'home' }])
    expect(store.secret?.app.discovery).toBe(true)
  })
})

import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { StorageKey } from '@/enum'
import { useAuthStore } from '@/stores/auth'

const me = { user: { name: 'alice', display_name: 'Alice', language: 'zh-CN', is_admin: false, created_at_ms: 0 }, memberships: [], grants: [] }
const groups = [{ id: 'home', name: 'Home', created_at_ms: 0 }, { id: 'cabin', name: 'Cabin', created_at_ms: 0 }]

function api(routes: Record<string, [number, unknown]>) {
  return vi.fn(async (url: string, init: RequestInit) => {
    const [status, body] = routes[`${init.method} ${url}`] ?? [404, { error: { code: 'no_route', message: url } }]
    return new Response(body === undefined ? null : JSON.stringify(body), { status })
  })
}

beforeEach(() => {
  localStorage.clear()
  setActivePinia(createPinia())
})
afterEach(() => vi.unstubAllGlobals())

describe('auth store', () => {
  it('logs in, loads the groups and picks the first', async () => {
    vi.stubGlobal('fetch', api({ 'POST /api/v1/auth/login': [200, me], 'GET /api/v1/groups': [200, groups] }))
    const auth = useAuthStore()
    await auth.login('alice', 'pw')
    expect(auth.loggedIn).toBe(true)
    expect(auth.user?.name).toBe('alice')
    expect(auth.currentGroup?.id).toBe('home')
  })

  it('remembers the chosen group', async () => {
    vi.stubGlobal('fetch', api({ 'GET /api/v1/auth/me': [200, me], 'GET /api/v1/groups': [200, groups] }))
    const auth = useAuthStore()
    await auth.load()
    auth.selectGroup('cabin')
    expect(auth.currentGroup?.name).toBe('Cabin')
    expect(localStorage.getItem(StorageKey.Group)).toBe('cabin')
  })

  it('is logged out when the hub says 401', async () => {
    vi.stubGlobal('fetch', api({ 'GET /api/v1/auth/me': [401, { error: { code: 'unauthenticated', message: 'log in' } }] }))
    const auth = useAuthStore()
    expect(await auth.load()).toBe(false)
    expect(auth.checked).toBe(true)
    expect(auth.loggedIn).toBe(false)
  })

  it('forgets the session on logout even if the hub is unreachable', async () => {
    vi.stubGlobal('fetch', api({ 'POST /api/v1/auth/login': [200, me], 'GET /api/v1/groups': [200, groups] }))
    const auth = useAuthStore()
    await auth.login('alice', 'pw')
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('offline') }))
    await auth.logout().catch(() => {})
    expect(auth.loggedIn).toBe(false)
  })
})

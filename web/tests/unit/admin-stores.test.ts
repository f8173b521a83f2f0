import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { canManageApp, useAppsStore } from '@/stores/apps'
import { AUDIT_PAGE, useAuditStore } from '@/stores/audit'
import { useAuthStore } from '@/stores/auth'
import { canManageGroup, useGroupStore } from '@/stores/groups'
import { errorText } from '@/utils/error'

type Handler = [number, unknown] | ((body: unknown) => [number, unknown])

/** A fake hub: `METHOD url` → [status, body]; records every call. */
function api(routes: Record<string, Handler>) {
  const calls: string[] = []
  const fetch = vi.fn(async (url: string, init: RequestInit) => {
    const key = `${init.method} ${url}`
    calls.push(init.body ? `${key} ${init.body}` : key)
    const route = routes[key]
    const [status, body] = typeof route === 'function' ? route(init.body ? JSON.parse(String(init.body)) : undefined)
      : route ?? [404, { error: { code: 'no_route', message: url } }]
    return new Response(body === undefined ? null : JSON.stringify(body), { status })
  })
  vi.stubGlobal('fetch', fetch)
  return calls
}

beforeEach(() => {
  localStorage.clear()
  setActivePinia(createPinia())
})
afterEach(() => vi.unstubAllGlobals())

describe('who may manage', () => {
  it('group owners and admins manage members; members and viewers do not', () => {
    expect(['owner', 'admin', 'member', 'viewer', null].map((my_role) => canManageGroup({ my_role }))).toEqual([true, true, false, false, false])
    expect(canManageGroup(null)).toBe(false)
  })

  it('apps are managed with the manage permission or as a group admin', () => {
    expect(canManageApp({ my_permission: 'manage' }, 'member')).toBe(true)
    expect(canManageApp({ my_permission: 'control' }, 'member')).toBe(false)
    expect(canManageApp({ my_permission: null }, 'admin')).toBe(true)
    expect(canManageApp(null, 'viewer')).toBe(false)
  })
})

describe('group store', () => {
  const groups = [{ id: 'home', name: 'Home', created_at_ms: 0, my_role: 'owner' }]

  it('loads members, sets a role and shows the API error of a refused change', async () => {
    const members = [{ group: 'home', user: 'admin', role: 'owner' }]
    const calls = api({
      'GET /api/v1/groups': [200, groups],
      'GET /api/v1/groups/home/members': [200, members],
      'PUT /api/v1/groups/home/members/bob': [200, { group: 'home', user: 'bob', role: 'viewer' }],
      'PUT /api/v1/groups/home/members/ghost': [404, { error: { code: 'not_found', message: 'no user ghost', field: 'user' } }],
    })
    await useAuthStore().loadGroups()
    const store = useGroupStore()
    await store.select('home')
    expect(store.canManage).toBe(true)
    expect(store.members).toEqual(members)
    expect(await store.setMember(' bob ', 'viewer')).toBe(true)
    expect(calls).toContain('PUT /api/v1/groups/home/members/bob {"role":"viewer"}')
    expect(await store.setMember('ghost', 'member')).toBe(false)
    expect(store.error).toBe('user: no user ghost')
  })

  it('creating a group reloads the list and selects it', async () => {
    let created = false
    api({
      'POST /api/v1/groups': () => ((created = true), [201, { id: 'cabin', name: 'Cabin', created_at_ms: 0, my_role: 'owner' }]),
      'GET /api/v1/groups': () => [200, created ? [...groups, { id: 'cabin', name: 'Cabin', created_at_ms: 0, my_role: 'owner' }] : groups],
      'GET /api/v1/groups/cabin/members': [200, []],
    })
    const store = useGroupStore()
    expect(await store.create('cabin ', 'Cabin')).toBe(true)
    expect(useAuthStore().groups.map((group) => group.id)).toEqual(['home', 'cabin'])
    expect(store.selected?.id).toBe('cabin')
  })
})

describe('apps store', () => {
  const app = { id: 'garden', group: 'home', name: 'Garden', description: '', mqtt_key: 'app:garden', created_at_ms: 0, my_permission: 'manage' }

  it('keeps the secret of a created app once, and sets grants', async () => {
    let apps: unknown[] = []
    const calls = api({
      'GET /api/v1/apps?group=home': () => [200, apps],
      'POST /api/v1/apps': () => ((apps = [app]), [201, { app, mqtt_key: 'app:garden', mqtt_secret: 's3cret' }]),
      'GET /api/v1/apps/garden/grants': [200, []],
      'PUT /api/v1/apps/garden/grants/bob': [200, { application: 'garden', user: 'bob', permission: 'control' }],
    })
    const store = useAppsStore()
    await store.load('home')
    expect(store.apps).toEqual([])
    expect(await store.create({ id: 'garden' })).toBe(true)
    expect(calls).toContain('POST /api/v1/apps {"id":"garden","group":"home"}')
    expect(store.secret?.mqtt_secret).toBe('s3cret')
    expect(store.selectedId).toBe('garden')
    expect(await store.setGrant('bob', 'control')).toBe(true)
    expect(calls).toContain('PUT /api/v1/apps/garden/grants/bob {"permission":"control"}')
  })
})

describe('audit store', () => {
  const entry = (seq: number) => ({ seq, at_ms: seq, actor: 'user:admin', action: 'group.add', target: 'cabin', detail: {} })

  it('pages with `before` = the oldest sequence shown, and filters by target', async () => {
    const full = Array.from({ length: AUDIT_PAGE }, (_, index) => entry(200 - index))
    const calls = api({
      [`GET /api/v1/audit?limit=${AUDIT_PAGE}`]: [200, full],
      [`GET /api/v1/audit?before=151&limit=${AUDIT_PAGE}`]: [200, [entry(150)]],
      [`GET /api/v1/audit?target=cabin&limit=${AUDIT_PAGE}`]: [200, [entry(7)]],
    })
    const store = useAuditStore()
    await store.load()
    expect(store.hasMore).toBe(true)
    await store.more()
    expect(store.entries).toHaveLength(AUDIT_PAGE + 1)
    expect(store.hasMore).toBe(false)
    store.target = ' cabin '
    await store.load()
    expect(store.entries.map((row) => row.seq)).toEqual([7])
    expect(calls).toHaveLength(3)
  })

  it('shows why the hub refused (403 for non-admins)', async () => {
    api({ [`GET /api/v1/audit?limit=${AUDIT_PAGE}`]: [403, { error: { code: 'forbidden', message: 'the whole audit log is for hub administrators' } }] })
    const store = useAuditStore()
    await store.load()
    expect(store.error).toBe('the whole audit log is for hub administrators')
  })
})

describe('registration', () => {
  it('shows the hub\'s words when registration is closed', async () => {
    const message = 'registration is by invitation: ask a hub administrator to create your account'
    api({ 'POST /api/v1/auth/register': [403, { error: { code: 'forbidden', message } }] })
    const auth = useAuthStore()
    const failure = await auth.register({ username: 'carol', password: 'pw-123456' }).catch((error) => error)
    expect(errorText(failure)).toBe(message)
    expect(auth.loggedIn).toBe(false)
  })
})

import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError, apiUrl, http, setUnauthorizedHandler } from '@/api/http'

function reply(status: number, body?: unknown) {
  return vi.fn(async () => new Response(body === undefined ? null : JSON.stringify(body), { status }))
}

afterEach(() => {
  vi.unstubAllGlobals()
  setUnauthorizedHandler(undefined)
})

describe('http', () => {
  it('builds URLs under /api/v1 without empty parameters', () => {
    expect(apiUrl('/devices', { group: 'home', room: '', kind: undefined, online: false })).toBe(
      '/api/v1/devices?group=home&online=false',
    )
  })

  it('sends JSON with the session cookie and parses the reply', async () => {
    const fetch = reply(200, { ok: true })
    vi.stubGlobal('fetch', fetch)
    await expect(http.post('/auth/login', { username: 'a' })).resolves.toEqual({ ok: true })
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/auth/login')
    expect(init.credentials).toBe('same-origin')
    expect(init.body).toBe('{"username":"a"}')
  })

  it('throws the API error shape as ApiError with code and field', async () => {
    vi.stubGlobal('fetch', reply(422, { error: { code: 'invalid', message: 'id: bad', field: 'id' } }))
    const error = await http.post('/devices', {}).catch((caught) => caught)
    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({ status: 422, code: 'invalid', field: 'id', message: 'id: bad' })
  })

  it('calls the unauthorized handler on 401', async () => {
    vi.stubGlobal('fetch', reply(401, { error: { code: 'unauthenticated', message: 'log in' } }))
    const handler = vi.fn()
    setUnauthorizedHandler(handler)
    await expect(http.get('/auth/me')).rejects.toMatchObject({ code: 'unauthenticated' })
    expect(handler).toHaveBeenCalledOnce()
  })

  it('answers undefined for 204', async () => {
    vi.stubGlobal('fetch', reply(204))
    await expect(http.delete('/tokens/x')).resolves.toBeUndefined()
  })

  it('reports a network failure as code network', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch') }))
    await expect(http.get('/groups')).rejects.toMatchObject({ status: 0, code: 'network' })
  })
})

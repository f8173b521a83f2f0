import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { POLL_MS, isOver, useFirmwareStore } from '@/stores/firmware'
import type { RolloutView } from '@/types/firmware'

type Handler = [number, unknown] | (() => [number, unknown])

/** A fake hub: `METHOD url` → [status, body]; records every call with its body. */
function api(routes: Record<string, Handler>) {
  const calls: { key: string; body: unknown; type?: string }[] = []
  vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => {
    const key = `${init.method} ${url}`
    const type = (init.headers as Record<string, string>)['Content-Type']
    calls.push({ key, body: init.body, type })
    const route = routes[key]
    const [status, body] = typeof route === 'function' ? route() : route ?? [404, { error: { code: 'no_route', message: url } }]
    return new Response(body === undefined ? null : JSON.stringify(body), { status })
  }))
  return calls
}

const image = { id: 'fw1', name: 'relay.bin', version: '2.0.0', kind: 'relay', sha256: 'ab'.repeat(32), size: 3, uploaded_by: 'user:admin', uploaded_at_ms: 1 }

function view(states: string[], rolloutState = 'firstwave', failed = 0): RolloutView {
  const targets = states.map((state, n) => ({
    rollout: 'r1', device: `d${n}`, wave: n < 2 ? 1 : 2, state, progress: null, error: state === 'failed' ? 'checksum mismatch' : null,
    command: null, attempts: 1, reported_version: null, updated_at_ms: 0,
  }))
  const count = (wanted: string[]) => states.filter((state) => wanted.includes(state)).length
  return {
    rollout: { id: 'r1', firmware: 'fw1', group: 'home', selector: 'kind:relay', first_percent: 40, state: rolloutState, created_by: 'user:admin', created_at_ms: 1, updated_at_ms: 1 },
    firmware: image,
    summary: {
      total: states.length, pending: count(['pending']), in_flight: count(['sent', 'downloading', 'installing']),
      succeeded: count(['succeeded']), failed, stopped: count(['stopped']), failures: failed ? [['checksum mismatch', failed]] : [], text: '',
    },
    targets,
  } as RolloutView
}

beforeEach(() => setActivePinia(createPinia()))
afterEach(() => {
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

describe('firmware store', () => {
  it('uploads the file as the raw body with its version and kind in the query', async () => {
    const calls = api({ 'POST /api/v1/firmware?name=relay.bin&version=2.0.0&kind=relay': [201, image] })
    const store = useFirmwareStore()
    const file = new Blob([new Uint8Array([1, 2, 3])])
    expect(await store.upload(file, { name: 'relay.bin', version: '2.0.0', kind: 'relay' })).toEqual(image)
    expect(calls[0].type).toBe('application/octet-stream')
    expect(calls[0].body).toBe(file)
    expect(store.images).toEqual([image])
  })

  it('shows the API refusal of an upload', async () => {
    api({ 'POST /api/v1/firmware?name=a&version=1&kind=relay': [403, { error: { code: 'forbidden', message: 'uploading firmware is for hub administrators' } }] })
    const store = useFirmwareStore()
    expect(await store.upload(new Blob(['x']), { name: 'a', version: '1', kind: 'relay' })).toBeUndefined()
    expect(store.error).toBe('uploading firmware is for hub administrators')
  })

  it('starts a rollout with its targets flattened and polls it until it is over', async () => {
    vi.useFakeTimers()
    let reads = 0
    const calls = api({
      'POST /api/v1/rollouts': [201, view(['sent', 'pending', 'pending'])],
      'GET /api/v1/rollouts/r1': () => (++reads === 1 ? [200, view(['succeeded', 'downloading', 'pending'])] : [200, view(['succeeded', 'succeeded', 'failed'], 'running', 1)]),
    })
    const store = useFirmwareStore()
    await store.start({ firmware: 'fw1', targets: { kind: 'relay', group: 'home' }, percentage_first: 40 })
    expect(JSON.parse(String(calls[0].body))).toEqual({ firmware: 'fw1', kind: 'relay', group: 'home', percentage_first: 40 })
    expect(store.rollouts.map((rollout) => rollout.id)).toEqual(['r1'])
    await vi.advanceTimersByTimeAsync(POLL_MS)
    expect(store.current?.targets[1].state).toBe('downloading')
    await vi.advanceTimersByTimeAsync(POLL_MS)
    expect(store.current?.summary.failed).toBe(1)
    expect(isOver(store.current)).toBe(true)
    await vi.advanceTimersByTimeAsync(POLL_MS * 3)
    expect(reads).toBe(2)
  })

  it('waits for a continue when the first wave failed, and acts on the open rollout', async () => {
    const calls = api({
      'GET /api/v1/rollouts/r1': [200, view(['succeeded', 'failed', 'pending'], 'firstwave', 1)],
      'POST /api/v1/rollouts/r1/stop': [200, view(['succeeded', 'failed', 'stopped'], 'stopped', 1)],
    })
    const store = useFirmwareStore()
    await store.open('r1')
    expect(store.waitingForContinue).toBe(true)
    await store.stopCurrent()
    expect(calls.map((call) => call.key)).toEqual(['GET /api/v1/rollouts/r1', 'POST /api/v1/rollouts/r1/stop'])
    expect(store.current?.rollout.state).toBe('stopped')
    expect(isOver(store.current)).toBe(true)
    store.close()
    expect(store.current).toBeNull()
  })

  it('reads the open rollout again when hearth/rollouts/{group} says it changed', async () => {
    let reads = 0
    api({ 'GET /api/v1/rollouts/r1': () => (++reads === 1 ? [200, view(['sent', 'pending'])] : [200, view(['failed', 'pending'], 'firstwave', 1)]) })
    const store = useFirmwareStore()
    await store.open('r1')
    store.applyMessage(JSON.stringify({ rollout: { ...view([]).rollout, id: 'other' }, targets: [] }))
    store.applyMessage('not json')
    expect(reads).toBe(1)
    store.applyMessage(JSON.stringify({ rollout: view([]).rollout, targets: [{ device: 'd0', state: 'failed' }] }))
    await vi.waitFor(() => expect(store.current?.summary.failed).toBe(1))
    expect(reads).toBe(2)
    store.close()
  })
})

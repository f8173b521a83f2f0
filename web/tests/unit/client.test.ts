import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createLiveClient, type ConnectionState } from '@/mqtt/client'
import type { MqttCredential } from '@/types/models'
import { ApiError } from '@/api/http'

type Acknowledge = (error?: Error | null) => void

class FakeClient extends EventEmitter {
  connected = false
  subscribed: string[] = []
  /** The SUBACKs still to come, in order. */
  pending: Acknowledge[] = []
  constructor(readonly url: string, readonly options: { password: string; timerVariant?: string }) {
    super()
  }
  subscribe(topics: string[], _options: unknown, acknowledge: Acknowledge) {
    this.subscribed.push(...topics)
    this.pending.push(acknowledge)
  }
  /** The hub's SUBACK for the oldest subscription in flight. */
  acknowledge(error: Error | null = null) {
    this.pending.shift()?.(error)
  }
  unsubscribe() {}
  end() {
    this.emit('close')
  }
}

function setup() {
  let n = 0
  const clients: FakeClient[] = []
  const states: ConnectionState[] = []
  const fetchCredentials = vi.fn(async (): Promise<MqttCredential> => {
    n += 1
    return { ws_url: 'ws://hub/mqtt', client_id: `web-${n}`, username: 'alice', password: `token-${n}`, expires_at_ms: 0 }
  })
  const connect = ((url: string, options: { password: string }) => {
    const client = new FakeClient(url, options)
    clients.push(client)
    return client
  }) as never
  const onSubscribed = vi.fn()
  const live = createLiveClient({ fetchCredentials, connect, onMessage: vi.fn(), onState: (state) => states.push(state), onSubscribed })
  return { live, clients, states, fetchCredentials, onSubscribed }
}

afterEach(() => vi.useRealTimers())

describe('the live MQTT client', () => {
  it('subscribes to the topics once connected and reports online', async () => {
    const { live, clients, states } = setup()
    live.setTopics(['devices/a/data'])
    await vi.waitFor(() => expect(clients).toHaveLength(1))
    clients[0].connected = true
    clients[0].emit('connect')
    expect(clients[0].subscribed).toEqual(['devices/a/data'])
    // Connected is not yet online: what the stores fetch then could miss what is
    // published before the subscription is in place.
    expect(states).toEqual(['connecting'])
    clients[0].acknowledge()
    expect(states).toEqual(['connecting', 'online'])
    live.stop()
  })

  it('is online with no topics at once, and not when the connection closed before the SUBACK', async () => {
    const { live, clients, states } = setup()
    await vi.waitFor(() => expect(clients).toHaveLength(1))
    clients[0].connected = true
    clients[0].emit('connect')
    expect(states).toEqual(['connecting', 'online'])
    live.stop()

    const second = setup()
    second.live.setTopics(['hearth/alerts/home'])
    await vi.waitFor(() => expect(second.clients).toHaveLength(1))
    const client = second.clients[0]
    client.connected = true
    client.emit('connect')
    client.connected = false
    client.emit('close')
    client.acknowledge(new Error('connection closed'))
    expect(second.states).toEqual(['connecting', 'offline'])
    second.live.stop()
  })

  it('reports topics added while online once the hub has acknowledged them', async () => {
    const { live, clients, onSubscribed } = setup()
    await vi.waitFor(() => expect(clients).toHaveLength(1))
    clients[0].connected = true
    clients[0].emit('connect')
    live.setTopics(['hearth/alerts/home'])
    expect(clients[0].subscribed).toEqual(['hearth/alerts/home'])
    expect(onSubscribed).not.toHaveBeenCalled()
    clients[0].acknowledge()
    expect(onSubscribed).toHaveBeenCalledWith(['hearth/alerts/home'])
    live.stop()
  })

  it('keeps its keepalive timer out of a Worker (the CSP allows no blob: workers)', async () => {
    const { live, clients } = setup()
    await vi.waitFor(() => expect(clients).toHaveLength(1))
    expect(clients[0].options.timerVariant).toBe('native')
    live.stop()
  })

  it('is unavailable, not offline, while the hub gives browsers no address, and connects once it does', async () => {
    vi.useFakeTimers()
    const states: ConnectionState[] = []
    const clients: FakeClient[] = []
    const answers: Array<() => MqttCredential> = [
      () => {
        throw new ApiError(503, 'unavailable', '[mqtt.external] has no browser_url')
      },
      () => {
        throw new ApiError(503, 'unavailable', '[mqtt.external] has no browser_url')
      },
      () => ({ ws_url: 'wss://broker.lan:8084/mqtt', client_id: 'web-1', username: 'alice', password: 'token-1', expires_at_ms: 0 }),
    ]
    const fetchCredentials = vi.fn(async () => answers.shift()!())
    const connect = ((url: string, options: { password: string }) => {
      const client = new FakeClient(url, options)
      clients.push(client)
      return client
    }) as never
    const live = createLiveClient({ fetchCredentials, connect, onMessage: vi.fn(), onState: (state) => states.push(state), maxDelayMs: 30_000 })
    await vi.waitFor(() => expect(states).toEqual(['connecting', 'unavailable']))
    // Asked again only after the longest delay, without flashing "connecting".
    await vi.advanceTimersByTimeAsync(29_000)
    expect(fetchCredentials).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(fetchCredentials).toHaveBeenCalledTimes(2)
    expect(states).toEqual(['connecting', 'unavailable', 'unavailable'])
    expect(clients).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(30_000)
    await vi.waitFor(() => expect(clients).toHaveLength(1))
    expect(clients[0].url).toBe('wss://broker.lan:8084/mqtt')
    clients[0].connected = true
    clients[0].emit('connect')
    expect(states.at(-1)).toBe('online')
    live.stop()
  })

  it('is offline, retrying soon, when a 503 is not the hub\'s own answer (a proxy in front of a stopped hub)', async () => {
    vi.useFakeTimers()
    const states: ConnectionState[] = []
    const fetchCredentials = vi.fn(async (): Promise<MqttCredential> => {
      throw new ApiError(503, 'http_503', 'Service Unavailable')
    })
    const live = createLiveClient({ fetchCredentials, connect: (() => null) as never, onMessage: vi.fn(), onState: (state) => states.push(state) })
    await vi.waitFor(() => expect(states).toEqual(['connecting', 'offline']))
    await vi.advanceTimersByTimeAsync(1_000)
    expect(fetchCredentials).toHaveBeenCalledTimes(2)
    live.stop()
  })

  it('reconnects with fresh credentials after losing the connection', async () => {
    vi.useFakeTimers()
    const { live, clients, states, fetchCredentials } = setup()
    await vi.waitFor(() => expect(clients).toHaveLength(1))
    clients[0].emit('connect')
    clients[0].emit('close')
    expect(states.at(-1)).toBe('offline')
    await vi.advanceTimersByTimeAsync(1_000)
    await vi.waitFor(() => expect(clients).toHaveLength(2))
    expect(fetchCredentials).toHaveBeenCalledTimes(2)
    expect(clients[1].options.password).toBe('token-2')
    live.stop()
    expect(states.at(-1)).toBe('idle')
  })
})

import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createLiveClient, type ConnectionState } from '@/mqtt/client'
import type { MqttCredential } from '@/types/models'

class FakeClient extends EventEmitter {
  connected = false
  subscribed: string[] = []
  constructor(readonly url: string, readonly options: { password: string }) {
    super()
  }
  subscribe(topics: string[]) {
    this.subscribed.push(...topics)
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
  const live = createLiveClient({ fetchCredentials, connect, onMessage: vi.fn(), onState: (state) => states.push(state) })
  return { live, clients, states, fetchCredentials }
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
    expect(states).toEqual(['connecting', 'online'])
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

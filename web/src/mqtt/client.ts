/**
 * The browser's MQTT-over-WebSocket connection. Credentials are short-lived, so every
 * (re)connection asks the API for fresh ones; mqtt.js's own reconnect (which would reuse
 * the old password) is off and this module retries with backoff instead.
 *
 * `online` is reported once the hub has acknowledged the subscriptions (SUBACK), not at
 * CONNACK: the stores fetch what they may have missed when it is reported, and a message
 * published between that fetch and a subscription still in flight would be lost.
 */
import mqtt, { type MqttClient } from 'mqtt'
import type { MqttCredential } from '@/types/models'
import { reachableWsUrl } from './wsUrl'

/**
 * `unavailable`: the hub gives browsers no MQTT-over-WebSocket address (503 `unavailable`
 * from the credentials endpoint: the listener is off, or an external broker without
 * `browser_url`); asked again every `maxDelayMs`, quietly, in case that changes.
 */
export type ConnectionState = 'idle' | 'connecting' | 'online' | 'offline' | 'unavailable'

export interface LiveClientOptions {
  fetchCredentials: () => Promise<MqttCredential>
  onMessage: (topic: string, payload: string) => void
  /**
   * Sees every message first, as bytes (camera snapshots are JPEG, not text); returns
   * whether it took it, so that `onMessage` never decodes a megabyte of JPEG as UTF-8.
   */
  onBytes?: (topic: string, payload: Uint8Array, retained: boolean) => boolean
  onState: (state: ConnectionState) => void
  /** Called when credentials cannot be had because the session is gone (401). */
  onUnauthorized?: () => void
  /**
   * Topics added while online, once the hub has acknowledged them: what was published
   * on them before is for the API to tell.
   */
  onSubscribed?: (topics: string[]) => void
  connect?: typeof mqtt.connect
  maxDelayMs?: number
}

export interface LiveClient {
  setTopics(topics: string[]): void
  stop(): void
}

export function createLiveClient(options: LiveClientOptions): LiveClient {
  const connect = options.connect ?? mqtt.connect
  const maxDelayMs = options.maxDelayMs ?? 30_000
  let topics = new Set<string>()
  let client: MqttClient | null = null
  let stopped = false
  let attempt = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let unavailable = false

  function schedule() {
    if (stopped) return
    const delay = unavailable ? maxDelayMs : Math.min(maxDelayMs, 1000 * 2 ** Math.min(attempt, 5))
    attempt += 1
    clearTimeout(timer)
    timer = setTimeout(start, delay)
  }

  async function start() {
    if (stopped) return
    // Asking again whether the hub now has an address does not flash "connecting".
    if (!unavailable) options.onState('connecting')
    let credential: MqttCredential
    try {
      credential = await options.fetchCredentials()
    } catch (error) {
      const { status, code } = error as { status?: number; code?: string }
      if (status === 401) {
        options.onUnauthorized?.()
        return
      }
      // The hub's own answer (a proxy's 503 has no such code): no address to connect to.
      unavailable = status === 503 && code === 'unavailable'
      options.onState(unavailable ? 'unavailable' : 'offline')
      schedule()
      return
    }
    unavailable = false
    if (stopped) return
    const url = globalThis.location ? reachableWsUrl(credential.ws_url, globalThis.location) : credential.ws_url
    const next = connect(url, {
      clientId: `${credential.client_id}`,
      username: credential.username,
      password: credential.password,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 15_000,
      clean: true,
      // mqtt.js's default in a browser keeps its keepalive timer in a Worker made from a
      // blob: URL, which the hub's Content-Security-Policy (worker-src 'self') blocks: no
      // PINGREQ was ever sent and the hub closed every connection after 1.5 × keepalive
      // (90 s), losing what was published until the reconnection.
      timerVariant: 'native',
    })
    client = next
    next.on('connect', () => {
      attempt = 0
      const online = () => {
        if (client === next && next.connected) options.onState('online')
      }
      // Refused topics (or a connection lost meanwhile) come back in the callback too.
      if (topics.size) next.subscribe([...topics], { qos: 1 }, online)
      else online()
    })
    next.on('message', (topic, payload, packet) => {
      if (options.onBytes?.(topic, payload, packet?.retain === true)) return
      options.onMessage(topic, payload.toString())
    })
    next.on('error', () => next.end(true))
    next.on('close', () => {
      if (client !== next) return
      client = null
      options.onState('offline')
      schedule()
    })
  }

  const onOnline = () => {
    if (!client && !stopped) {
      attempt = 0
      clearTimeout(timer)
      void start()
    }
  }
  globalThis.addEventListener?.('online', onOnline)
  void start()

  return {
    setTopics(next: string[]) {
      const wanted = new Set(next)
      const added = [...wanted].filter((topic) => !topics.has(topic))
      const removed = [...topics].filter((topic) => !wanted.has(topic))
      topics = wanted
      const current = client
      if (current?.connected) {
        if (added.length) {
          current.subscribe(added, { qos: 1 }, (error) => {
            if (!error && client === current) options.onSubscribed?.(added)
          })
        }
        if (removed.length) current.unsubscribe(removed)
      }
    },
    stop() {
      stopped = true
      clearTimeout(timer)
      globalThis.removeEventListener?.('online', onOnline)
      const current = client
      client = null
      current?.end(true)
      options.onState('idle')
    },
  }
}

// The browser's MQTT URL behind a reverse proxy: the hub names its own (loopback)
// listener; a page from another host goes through its own origin instead.
import { describe, expect, it } from 'vitest'
import { reachableWsUrl } from '@/mqtt/wsUrl'

const page = (href: string) => {
  const url = new URL(href)
  return { protocol: url.protocol, host: url.host, hostname: url.hostname }
}

describe('reachableWsUrl', () => {
  it('keeps the hub\'s address when the page is on loopback too', () => {
    expect(reachableWsUrl('ws://127.0.0.1:8083/mqtt', page('http://127.0.0.1:8080/'))).toBe('ws://127.0.0.1:8083/mqtt')
    expect(reachableWsUrl('ws://127.0.0.1:8083/mqtt', page('http://localhost:8080/devices'))).toBe(
      'ws://127.0.0.1:8083/mqtt',
    )
  })

  it('goes through the page\'s origin behind an HTTPS proxy', () => {
    expect(reachableWsUrl('ws://127.0.0.1:8083/mqtt', page('https://hearth.example.org/devices'))).toBe(
      'wss://hearth.example.org/mqtt',
    )
    expect(reachableWsUrl('ws://[::1]:8083/mqtt', page('https://hearth.example.org:8443/'))).toBe(
      'wss://hearth.example.org:8443/mqtt',
    )
  })

  it('uses the page\'s host with the listener\'s own port when it listens on every address', () => {
    expect(reachableWsUrl('ws://0.0.0.0:8083/mqtt', page('http://192.168.1.20:8080/'))).toBe(
      'ws://192.168.1.20:8083/mqtt',
    )
    expect(reachableWsUrl('wss://0.0.0.0:8084/mqtt', page('https://hub.home.arpa:8443/'))).toBe(
      'wss://hub.home.arpa:8084/mqtt',
    )
    expect(reachableWsUrl('ws://[::]:8083/mqtt', page('http://[fd00::20]:8080/'))).toBe('ws://[fd00::20]:8083/mqtt')
    expect(reachableWsUrl('ws://0.0.0.0:8083/mqtt', page('http://127.0.0.1:8080/'))).toBe('ws://127.0.0.1:8083/mqtt')
  })

  it('keeps an address the page can reach', () => {
    expect(reachableWsUrl('ws://192.168.1.20:8083/mqtt', page('http://192.168.1.20:8080/'))).toBe(
      'ws://192.168.1.20:8083/mqtt',
    )
    expect(reachableWsUrl('wss://hub.example.org/mqtt', page('https://hearth.example.org/'))).toBe(
      'wss://hub.example.org/mqtt',
    )
  })
})

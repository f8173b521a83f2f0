/**
 * Where this page can reach the hub's MQTT-over-WebSocket listener.
 *
 * The hub answers the address its listener is bound to (`ws://127.0.0.1:8083/mqtt` with
 * the packaged configuration). A page loaded from another host cannot reach a loopback
 * or unspecified (0.0.0.0) address: the hub sits behind a reverse proxy (the nginx
 * example in packaging/nginx forwards the same path on the page's own origin, over
 * wss:// when the page is https://), so the page's origin is the way in. Anything else
 * is used as the hub said.
 */
export function reachableWsUrl(wsUrl: string, page: { protocol: string; host: string; hostname: string }): string {
  let url: URL
  try {
    url = new URL(wsUrl)
  } catch {
    return wsUrl
  }
  if (!unreachableFromElsewhere(url.hostname) || unreachableFromElsewhere(page.hostname)) {
    return wsUrl
  }
  const scheme = page.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${page.host}${url.pathname}${url.search}`
}

function unreachableFromElsewhere(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return (
    host === 'localhost' ||
    host === '::1' ||
    host === '::' ||
    host === '0.0.0.0' ||
    /^127\.\d+\.\d+\.\d+$/.test(host)
  )
}

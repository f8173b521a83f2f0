/**
 * Where this page can reach the hub's MQTT-over-WebSocket listener.
 *
 * The hub answers the address its listener is bound to.
 * - A loopback address (`ws://127.0.0.1:8083/mqtt` with the packaged configuration)
 *   cannot be reached from another host: the hub sits behind a reverse proxy (the nginx
 *   example in packaging/nginx forwards the same path on the page's own origin, over
 *   wss:// when the page is https://), so the page's origin is the way in.
 * - An unspecified address (`0.0.0.0`, `::`) means the listener takes connections on
 *   every address, so it is on the host the page came from: the page's host name with
 *   the listener's own scheme and port (the HTTP port serves no WebSocket).
 * Anything else is used as the hub said.
 */
export function reachableWsUrl(wsUrl: string, page: { protocol: string; host: string; hostname: string }): string {
  let url: URL
  try {
    url = new URL(wsUrl)
  } catch {
    return wsUrl
  }
  const host = bare(url.hostname)
  if (host === '0.0.0.0' || host === '::') {
    const port = url.port ? `:${url.port}` : ''
    return `${url.protocol}//${page.hostname}${port}${url.pathname}${url.search}`
  }
  if (!isLoopback(host) || isLoopback(bare(page.hostname))) {
    return wsUrl
  }
  const scheme = page.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${page.host}${url.pathname}${url.search}`
}

/** A host name without the brackets an IPv6 literal carries in a URL, lower case. */
function bare(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '').toLowerCase()
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

// Web Push for Hearth's alerts (issue 15), imported by the service worker that
// vite-plugin-pwa generates (workbox.importScripts in vite.config.ts). The hub's payload
// is JSON: {title, body, url, alert, event, severity, tag}.
self.addEventListener('push', (event) => {
  let data = {}
  try {
    data = event.data ? event.data.json() : {}
  } catch {
    data = { body: event.data ? event.data.text() : '' }
  }
  const title = data.title || 'Hearth'
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || '',
    tag: data.tag || data.alert || undefined,
    icon: '/icons/icon-192.png',
    badge: '/icons/icon-192.png',
    data: { url: data.url || '/alerts' },
    requireInteraction: data.severity === 'critical',
  }))
})

self.addEventListener('notificationclick', (event) => {
  event.notification.close()
  const target = new URL(event.notification.data?.url || '/alerts', self.location.origin).href
  event.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
    for (const client of windows) {
      if (client.url.startsWith(self.location.origin) && 'focus' in client) {
        client.navigate?.(target)
        return client.focus()
      }
    }
    return self.clients.openWindow(target)
  }))
})

/**
 * Web Push on this browser (issue 15): the PWA's service worker subscribes with the
 * hub's VAPID key and the subscription goes to the hub; `public/push-sw.js` (imported
 * by the generated service worker) shows each alert as a notification.
 */

/** A base64url text (the VAPID key) as bytes, for `applicationServerKey`. */
export function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=')
  const binary = atob(base64)
  const bytes = new Uint8Array(new ArrayBuffer(binary.length))
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index)
  return bytes
}

/** Why push cannot work here, or null: no service worker (development) or no Push API. */
export function pushUnsupported(): 'unsupported' | 'denied' | null {
  if (typeof navigator === 'undefined' || !('serviceWorker' in navigator) || typeof PushManager === 'undefined' || typeof Notification === 'undefined') return 'unsupported'
  if (Notification.permission === 'denied') return 'denied'
  return null
}

/** The service worker's registration, if the app has one (production builds). */
async function registration(): Promise<ServiceWorkerRegistration | null> {
  return (await navigator.serviceWorker.getRegistration()) ?? null
}

/** This browser's current push subscription, if any. */
export async function currentSubscription(): Promise<PushSubscription | null> {
  if (pushUnsupported() === 'unsupported') return null
  return (await (await registration())?.pushManager.getSubscription()) ?? null
}

/** Asks permission and subscribes with `publicKey`; the JSON the hub takes. */
export async function subscribe(publicKey: string): Promise<{ endpoint: string; keys: { p256dh: string; auth: string } }> {
  const permission = await Notification.requestPermission()
  if (permission !== 'granted') throw new Error('permission')
  const worker = await registration()
  if (!worker) throw new Error('no service worker')
  const subscription = await worker.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(publicKey) })
  const json = subscription.toJSON()
  return { endpoint: subscription.endpoint, keys: { p256dh: json.keys?.p256dh ?? '', auth: json.keys?.auth ?? '' } }
}

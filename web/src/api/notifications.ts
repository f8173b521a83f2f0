import { http, request } from './http'
import type { NotificationPrefs, PushSubscriptionView } from '@/types/alert'

/** The caller's notification preferences (the defaults if they set none). */
export const fetchNotificationPrefs = () => http.get<NotificationPrefs>('/profile/notifications')
export const saveNotificationPrefs = (prefs: NotificationPrefs) => http.put<NotificationPrefs>('/profile/notifications', prefs)
/** The hub's VAPID public key (base64url); 503 when the hub does not send Web Push. */
export const fetchPushKey = () => http.get<{ public_key: string }>('/push/key')
export const fetchPushSubscriptions = () => http.get<PushSubscriptionView[]>('/push/subscriptions')
/** `PushSubscription.toJSON()`'s endpoint and keys. */
export const addPushSubscription = (subscription: { endpoint: string; keys: { p256dh: string; auth: string } }) =>
  http.post<PushSubscriptionView>('/push/subscriptions', subscription)
export const removePushSubscription = (endpoint: string) => request<void>('DELETE', '/push/subscriptions', { body: { endpoint } })

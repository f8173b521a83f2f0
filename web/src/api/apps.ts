import { http } from './http'
import type { App, AppSecret, Grant } from '@/types/models'

export interface NewApp {
  id: string
  group: string
  name?: string
  description?: string
  /** A discovery login (Home Assistant MQTT discovery, issue 18). */
  discovery?: boolean
  /** Days its devices' raw messages are kept (1 to 3650); absent: the hub's default. */
  message_retention_days?: number
}

/** What `PATCH /apps/{id}` changes; `message_retention_days: null` goes back to the hub's default. */
export interface AppPatch {
  message_retention_days?: number | null
}

export const fetchApps = (group?: string) => http.get<App[]>('/apps', { group })
export const createApp = (request: NewApp) => http.post<AppSecret>('/apps', request)
export const updateApp = (id: string, patch: AppPatch) => http.patch<App>(`/apps/${encodeURIComponent(id)}`, patch)
export const rotateAppSecret = (id: string) => http.post<AppSecret>(`/apps/${encodeURIComponent(id)}/rotate-secret`)
export const fetchGrants = (id: string) => http.get<Grant[]>(`/apps/${encodeURIComponent(id)}/grants`)
export const setGrant = (id: string, user: string, permission: string) =>
  http.put<Grant>(`/apps/${encodeURIComponent(id)}/grants/${encodeURIComponent(user)}`, { permission })
export const removeGrant = (id: string, user: string) =>
  http.delete<void>(`/apps/${encodeURIComponent(id)}/grants/${encodeURIComponent(user)}`)

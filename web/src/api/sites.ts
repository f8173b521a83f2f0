import { http } from './http'

/** A home hub linked to this hub (issue 20, docs/sites.md); never its secret. */
export interface Site {
  id: string
  group: string
  name: string
  enabled: boolean
  created_at_ms: number
  last_seen_ms?: number | null
  devices: string[]
  /** Its link as this hub sees it now; absent where the hub runs no relay. */
  link?: SiteLink | null
}

/** A site's link now (docs/sites.md "Visible"); counts are since the hub started. */
export interface SiteLink {
  connected: boolean
  /** Since when it is connected, or down; absent if not connected since the hub started. */
  since_ms?: number | null
  /** When this hub last accepted a message from the link. */
  last_message_ms?: number | null
  /** The home hub's receive time of the newest relayed message. */
  last_home_ms?: number | null
  /** Now minus `last_home_ms`. */
  lag_ms?: number | null
  messages_total: number
}

/** A site with its secret: only in the answer that made the secret. */
export interface SiteSecret {
  site: Site
  secret: string
}

export interface NewSite {
  id: string
  group: string
  name?: string
}

export const fetchSites = (group?: string) => http.get<Site[]>('/sites', { group })
export const createSite = (request: NewSite) => http.post<SiteSecret>('/sites', request)
export const updateSite = (id: string, patch: { enabled?: boolean }) => http.patch<Site>(`/sites/${encodeURIComponent(id)}`, patch)
export const rotateSiteSecret = (id: string) => http.post<SiteSecret>(`/sites/${encodeURIComponent(id)}/rotate-secret`)
export const removeSite = (id: string) => http.delete<void>(`/sites/${encodeURIComponent(id)}`)

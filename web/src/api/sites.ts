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

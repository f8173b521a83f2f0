import { http } from './http'
import type { AuditEntry } from '@/types/models'

export interface AuditQuery {
  target?: string
  actor?: string
  /** Entries older than this sequence number: the next page. */
  before?: number
  limit?: number
}

/** Newest first. */
export const fetchAudit = (query: AuditQuery = {}) => http.get<AuditEntry[]>('/audit', { ...query })

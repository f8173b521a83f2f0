import { request } from './http'
import type { Confirmation } from '@/types/automation'

// These routes are being added to the hub (issue 14); until they are in openapi.json they
// go through `request()` directly, which tests/unit/openapi.test.ts does not check.
// TODO: `http.get` / `http.post` once `npm run gen:api` has them.

/** The pending and recent confirmation requests of the caller's groups. */
export const fetchConfirmations = () => request<Confirmation[]>('GET', '/confirmations')
export const confirmRequest = (id: string) =>
  request<Confirmation>('POST', `/confirmations/${encodeURIComponent(id)}/confirm`, { body: {} })
export const refuseRequest = (id: string) =>
  request<Confirmation>('POST', `/confirmations/${encodeURIComponent(id)}/refuse`, { body: {} })

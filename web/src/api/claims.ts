/** Claiming devices (issue 23): a person claims a labelled device into one of their groups. */
import type { Device } from '@/types/models'
import { apiUrl, http } from './http'

export interface ClaimRequest {
  device: string
  code: string
  group: string
  room?: string | null
}

/** Who owns a device and whether it waits to be claimed (GET /devices/{id}/claim). */
export interface ClaimState {
  unclaimed: boolean
  owner: string | null
  claimed_at_ms: number | null
  can_unclaim: boolean
}

/** What unclaiming answers, shown once: the device's new secret and claim code. */
export interface Unclaimed {
  id: string
  secret: string
  code: string
  claim_url: string
}

/** A device registered unclaimed (administrators), with its secret and code shown once. */
export interface NewUnclaimed {
  device: Device
  secret: string
  code: string
  claim_url: string
}

export const claimDevice = (claim: ClaimRequest) => http.post<Device>('/claims', claim)
export const fetchClaimState = (id: string) => http.get<ClaimState>(`/devices/${encodeURIComponent(id)}/claim`)
export const unclaimDevice = (id: string) => http.post<Unclaimed>(`/devices/${encodeURIComponent(id)}/unclaim`)
export const createUnclaimed = (id: string, kind?: string) =>
  http.post<NewUnclaimed>('/unclaimed-devices', { id, kind })
/** The label's QR code (an SVG image) for the device's current code: an <img> source. */
export const labelUrl = (id: string, code: string) =>
  apiUrl(`/devices/${encodeURIComponent(id)}/label.svg`, { code })

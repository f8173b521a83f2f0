import type { components } from '@/types/api'
import { ApiError, http } from './http'

/** The registry mirrored from the cloud (helper "mirror", issue 20), when the hub reports it. */
export interface BridgeMirror {
  /** The cloud revision (its audit sequence) of the snapshot applied last. */
  revision?: number | null
  last_sync_ms?: number | null
  /** What the cloud refused of this hub's devices, and what applying a snapshot overrode. */
  conflicts?: (MirrorConflict | string)[]
  pushed_total?: number
  rejected_total?: number
}

export interface MirrorConflict {
  device: string
  reason: string
  at_ms?: number
}

/** The home hub's link to its cloud hub (docs/bridge.md "Visible"). */
export type BridgeStatus = components['schemas']['BridgeView'] & { mirror?: BridgeMirror | null }

/** The link's status; `null` on a hub without a `[bridge]` section (the hub answers 404). */
export async function fetchBridge(): Promise<BridgeStatus | null> {
  try {
    return await http.get<BridgeStatus>('/bridge')
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null
    throw error
  }
}

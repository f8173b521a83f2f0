/**
 * The device protocol's vocabularies, the web app's copy of `hearth_model`'s: what a
 * `devices/{id}/status` payload says about presence (`DevicePresence`) and which command
 * statuses are final (`CommandStatus`). `tests/unit/protocol.test.ts` checks both against
 * the fixture the Rust side writes, so that the hub and the page never disagree on
 * whether a device that said `down` is online.
 */
import type { CommandStatus } from '@/types/models'

export type { CommandStatus }
export type DevicePresence = 'online' | 'offline'

/** Presence words devices use, in any case, with blanks around. */
export const PRESENCE_WORDS: Readonly<Record<string, DevicePresence>> = {
  online: 'online',
  connected: 'online',
  up: 'online',
  offline: 'offline',
  disconnected: 'offline',
  down: 'offline',
}

export function presenceWord(text: string): DevicePresence | null {
  return PRESENCE_WORDS[text.trim().toLowerCase()] ?? null
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * What a status payload says about presence; `null` when it says neither (a JSON status
 * without an online field: the device spoke, so the hub counts it online).
 */
export function statusPresence(payload: string): DevicePresence | null {
  const word = presenceWord(payload)
  if (word) return word
  const json = parseJson(payload)
  if (typeof json === 'string') return presenceWord(json)
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    const { online, status } = json as { online?: unknown; status?: unknown }
    if (typeof online === 'boolean') return online ? 'online' : 'offline'
    if (typeof status === 'string') return presenceWord(status)
  }
  return null
}

/** Command statuses in the order a command moves through them; the last three are final. */
export const COMMAND_STATUSES: readonly CommandStatus[] = ['pending', 'sent', 'acked', 'failed', 'timeout']
const FINAL_STATUSES: ReadonlySet<string> = new Set(['acked', 'failed', 'timeout'])

export const isFinalStatus = (status: string): boolean => FINAL_STATUSES.has(status)

/** How far along a status is: a command never moves back to a lower rank. */
export const statusRank = (status: string): number => (isFinalStatus(status) ? 2 : status === 'sent' ? 1 : 0)

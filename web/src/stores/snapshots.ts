/**
 * Cameras' latest snapshots, from `devices/{id}/snapshot` on the live connection (JPEG
 * bytes, retained by the broker, so a page opened later gets the last one at once). Each
 * is kept as an object URL that the `<img>` shows; the previous one is revoked when a new
 * snapshot replaces it, so a camera that sends one every few seconds costs one image of
 * memory, not a growing pile of blobs.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { StoreId } from '@/enum'
import { parseDeviceTopic } from '@/mqtt/topics'
import { imageType } from '@/utils/camera'

export interface Snapshot {
  /** An object URL for the image (`blob:...`). */
  url: string
  type: string
  size: number
  /** When this page received it. */
  receivedMs: number
  /** Delivered from the broker's retained copy (taken before the page subscribed). */
  retained: boolean
}

export const useSnapshotStore = defineStore(StoreId.Snapshots, () => {
  const snapshots = ref<Record<string, Snapshot>>({})
  /** Payloads on a snapshot topic that were no JPEG or PNG, by device (not shown). */
  const rejected = ref<Record<string, number>>({})

  function drop(device: string) {
    const old = snapshots.value[device]
    if (old) URL.revokeObjectURL(old.url)
    delete snapshots.value[device]
  }

  /** Takes a message; returns whether the topic was a snapshot topic. */
  function applyMessage(topic: string, payload: Uint8Array, retained = false, now = Date.now()): boolean {
    const parsed = parseDeviceTopic(topic)
    if (parsed?.kind !== 'snapshot') return false
    // An empty retained message is how a camera (or an admin) clears its snapshot.
    if (payload.length === 0) {
      drop(parsed.device)
      return true
    }
    const type = imageType(payload)
    if (!type) {
      rejected.value[parsed.device] = (rejected.value[parsed.device] ?? 0) + 1
      return true
    }
    // A copy: the payload may be a view into mqtt.js's read buffer.
    const url = URL.createObjectURL(new Blob([payload.slice()], { type }))
    drop(parsed.device)
    snapshots.value[parsed.device] = { url, type, size: payload.length, receivedMs: now, retained }
    return true
  }

  function reset() {
    for (const device of Object.keys(snapshots.value)) drop(device)
    rejected.value = {}
  }

  return { snapshots, rejected, applyMessage, reset }
})

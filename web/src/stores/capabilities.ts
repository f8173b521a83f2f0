/**
 * What devices declared themselves on `devices/{id}/capabilities` (retained, read over the
 * live connection), and each device's capabilities resolved from it, its metadata and its
 * kind (`utils/capabilities.ts`: metadata wins, then the device, then the kind).
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { StoreId } from '@/enum'
import type { Capability, CapabilitySource } from '@/types/capability'
import { parseCapabilities, parseCapabilitiesTopic, resolveCapabilities } from '@/utils/capabilities'

export const useCapabilityStore = defineStore(StoreId.Capabilities, () => {
  /** By device id: the list its last retained message declared. */
  const declared = ref<Record<string, Capability[]>>({})

  /** Takes a `devices/{id}/capabilities` message; `false` for any other topic (not ours). */
  function applyMessage(topic: string, payload: string): boolean {
    const device = parseCapabilitiesTopic(topic)
    if (!device) return false
    const list = payload.trim() ? parseCapabilities(payload) : null
    // An empty retained message clears the declaration, as MQTT clears a retained one.
    if (list) declared.value[device] = list
    else delete declared.value[device]
    return true
  }

  function resolve(device: { id: string; kind: string; metadata?: unknown }): { capabilities: Capability[]; source: CapabilitySource } {
    return resolveCapabilities(device, declared.value[device.id])
  }

  function reset() {
    declared.value = {}
  }

  return { declared, applyMessage, resolve, reset }
})

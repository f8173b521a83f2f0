/**
 * Devices announced through Home Assistant discovery and not adopted yet, for the current
 * group (the Discovered page and the navigation's count). Listing and adopting are for
 * group admins and hub admins; the page polls while it is open, since the hub announces
 * no change of this list over MQTT.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import * as discoveredApi from '@/api/discovered'
import { ApiError } from '@/api/http'
import { StoreId } from '@/enum'
import type { AdoptRequest, DiscoveredDevice } from '@/types/discovered'
import type { Device } from '@/types/models'
import { errorText } from '@/utils/error'
import { useDeviceStore } from './devices'

/** How often the open page asks again (a device announcing itself shows up within this). */
export const DISCOVERED_POLL_MS = 5_000

/** Who sees discovered devices: hub admins and the group's owners and admins. */
export const canSeeDiscovered = (isAdmin: boolean | null | undefined, groupRole: string | null | undefined) =>
  !!isAdmin || groupRole === 'owner' || groupRole === 'admin'

/** A discovered device is known by its discovering application and its discovery id. */
export const discoveredKey = (device: Pick<DiscoveredDevice, 'app' | 'id'>) => `${device.app}/${device.id}`

/** What the adopt dialog sends: blanks left out, so that the hub keeps the announced values. */
export function adoptRequest(form: { app: string; id?: string; name?: string; room?: string }): AdoptRequest {
  const request: AdoptRequest = { app: form.app }
  const id = form.id?.trim()
  const name = form.name?.trim()
  const room = form.room?.trim()
  if (id) request.id = id
  if (name) request.name = name
  if (room) request.room = room
  return request
}

export const useDiscoveredStore = defineStore(StoreId.Discovered, () => {
  const group = ref<string | null>(null)
  const devices = ref<DiscoveredDevice[]>([])
  const loading = ref(false)
  const busy = ref(false)
  /** The last refusal's text for the page ("room: too long"). */
  const error = ref('')
  /** The field the last refusal named, and its message alone (the adopt dialog shows it on that field). */
  const errorField = ref<string | null>(null)
  const errorMessage = ref('')
  let timer: ReturnType<typeof setInterval> | null = null
  /** Answers to an older group's request are dropped (the person switched group meanwhile). */
  let generation = 0

  const count = computed(() => devices.value.length)

  function fail(caught: unknown) {
    error.value = errorText(caught)
    errorField.value = caught instanceof ApiError ? caught.field ?? null : null
    errorMessage.value = caught instanceof Error ? caught.message : String(caught)
  }

  function clearError() {
    error.value = ''
    errorField.value = null
    errorMessage.value = ''
  }

  /** `quiet`: a poll, which shows no spinner (the list just follows). */
  async function load(groupId: string | null, { quiet = false } = {}) {
    const mine = ++generation
    if (groupId !== group.value) devices.value = []
    group.value = groupId
    if (!groupId) return
    if (!quiet) loading.value = true
    try {
      const list = await discoveredApi.fetchDiscovered(groupId)
      if (mine !== generation) return
      // Newest announcement first: what was just plugged in is on top.
      devices.value = [...list].sort((a, b) => b.first_seen_ms - a.first_seen_ms || discoveredKey(a).localeCompare(discoveredKey(b)))
      clearError()
    } catch (caught) {
      if (mine === generation) fail(caught)
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  const refresh = () => load(group.value)

  function startPolling() {
    stopPolling()
    timer = setInterval(() => void load(group.value, { quiet: true }), DISCOVERED_POLL_MS)
  }

  function stopPolling() {
    if (timer !== null) clearInterval(timer)
    timer = null
  }

  function drop(device: Pick<DiscoveredDevice, 'app' | 'id'>) {
    const key = discoveredKey(device)
    devices.value = devices.value.filter((known) => discoveredKey(known) !== key)
  }

  /**
   * Adopts one into an application of its group. The new device joins the device store
   * (so that Home and Devices show it and the live connection follows its topics); the
   * refusal's text is in `error` and the call returns undefined. The store is not read
   * again: the hub gives the device its presence a moment after answering, and a list read
   * before that, answered after the live `status` message, would put it back offline.
   */
  async function adopt(device: Pick<DiscoveredDevice, 'app' | 'id'>, form: { app: string; id?: string; name?: string; room?: string }): Promise<Device | undefined> {
    busy.value = true
    clearError()
    try {
      const adopted = await discoveredApi.adoptDiscovered(device.app, device.id, adoptRequest(form))
      drop(device)
      useDeviceStore().upsert(adopted)
      return adopted
    } catch (caught) {
      fail(caught)
      return undefined
    } finally {
      busy.value = false
    }
  }

  /** Forgets one; true when the hub did. */
  async function forget(device: Pick<DiscoveredDevice, 'app' | 'id'>): Promise<boolean> {
    busy.value = true
    clearError()
    try {
      await discoveredApi.forgetDiscovered(device.app, device.id)
      drop(device)
      return true
    } catch (caught) {
      fail(caught)
      return false
    } finally {
      busy.value = false
    }
  }

  function reset() {
    generation++
    stopPolling()
    group.value = null
    devices.value = []
    clearError()
  }

  return { group, devices, loading, busy, error, errorField, errorMessage, count, load, refresh, startPolling, stopPolling, adopt, forget, clearError, reset }
})

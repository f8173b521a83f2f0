/** The current group's devices (one request, filtered here so that live state counts). */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { fetchCommands, sendCommand } from '@/api/commands'
import { fetchDevices } from '@/api/devices'
import { StoreId, SWITCHABLE_KINDS } from '@/enum'
import type { ControlCommand } from '@/types/capability'
import type { Device } from '@/types/models'
import { hasControls, resolveCapabilities } from '@/utils/capabilities'
import { useLiveStore, type LiveState } from './live'

export interface DeviceFilters {
  search?: string
  room?: string | null
  kind?: string | null
  online?: boolean | null
}

export const isSwitchable = (device: Pick<Device, 'kind'>) =>
  (SWITCHABLE_KINDS as readonly string[]).includes(device.kind)

/** Whether a device has controls (by its metadata or kind), so its confirmed state is worth seeding. */
const isControllable = (device: Device) => isSwitchable(device) || hasControls(resolveCapabilities(device).capabilities)

/** Devices that match every filter that is set. */
export function filterDevices(devices: Device[], filters: DeviceFilters, live: Record<string, LiveState>): Device[] {
  const search = filters.search?.trim().toLowerCase()
  return devices.filter((device) => {
    if (search && !device.id.toLowerCase().includes(search) && !device.name.toLowerCase().includes(search)) return false
    if (filters.room && (device.room ?? '') !== filters.room) return false
    if (filters.kind && device.kind !== filters.kind) return false
    if (filters.online !== undefined && filters.online !== null) {
      const online = live[device.id]?.online ?? device.live.is_online
      if (online !== filters.online) return false
    }
    return true
  })
}

/** Devices by room, rooms sorted, devices without a room last. */
export function groupByRoom(devices: Device[]): { room: string | null; devices: Device[] }[] {
  const rooms = new Map<string | null, Device[]>()
  for (const device of devices) {
    const room = device.room || null
    rooms.set(room, [...(rooms.get(room) ?? []), device])
  }
  return [...rooms.entries()]
    .sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : a.localeCompare(b)))
    .map(([room, list]) => ({ room, devices: list }))
}

export const useDeviceStore = defineStore(StoreId.Devices, () => {
  const devices = ref<Device[]>([])
  const loading = ref(false)
  const loadedGroup = ref<string | null>(null)

  const rooms = computed(() => [...new Set(devices.value.map((device) => device.room).filter(Boolean))].sort() as string[])
  const kinds = computed(() => [...new Set(devices.value.map((device) => device.kind))].sort())

  async function load(group: string | null) {
    loading.value = true
    try {
      const page = await fetchDevices({ group: group ?? undefined, limit: 500, sort: 'name' })
      devices.value = page.items
      loadedGroup.value = group
      const live = useLiveStore()
      for (const device of page.items) live.seed(device)
      // A control shows what its device last confirmed; that lives in the command log.
      await Promise.all(page.items.filter(isControllable).map(async (device) => {
        const commands = await fetchCommands(device.id, 10).catch(() => [])
        const confirmed = commands.find((command) => command.status === 'acked' && command.reported_state)
        if (confirmed) live.seedReported(device.id, confirmed)
      }))
    } finally {
      loading.value = false
    }
  }

  function upsert(device: Device) {
    const index = devices.value.findIndex((known) => known.id === device.id)
    if (index >= 0) devices.value[index] = device
    else devices.value.push(device)
    useLiveStore().seed(device)
  }

  function remove(id: string) {
    devices.value = devices.value.filter((device) => device.id !== id)
  }

  /** Sends `switch {on}`; the live store shows it pending until the device answers. */
  async function setSwitch(id: string, on: boolean) {
    const command = await sendCommand(id, 'switch', { on })
    useLiveStore().trackSwitch(id, command, on)
    return command
  }

  /** Sends a control's command; the live store shows its value pending until the device answers. */
  async function sendControl(id: string, control: string, request: ControlCommand) {
    const command = await sendCommand(id, request.name, request.params)
    useLiveStore().trackControl(id, control, command, request)
    return command
  }

  return { devices, loading, loadedGroup, rooms, kinds, load, upsert, remove, setSwitch, sendControl }
})

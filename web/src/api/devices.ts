import { http } from './http'
import type { Device, DeviceLive, DevicePatch, DeviceSecret, NewDeviceRequest, Page } from '@/types/models'

export interface DeviceListQuery {
  group?: string
  app?: string
  room?: string
  kind?: string
  online?: boolean
  enabled?: boolean
  search?: string
  sort?: 'id' | 'name' | 'last_seen'
  limit?: number
  offset?: number
}

export type NewDevice = NewDeviceRequest

export const fetchDevices = (query: DeviceListQuery = {}) =>
  http.get<Page<Device>>('/devices', { ...query })
export const fetchDevice = (id: string) => http.get<Device>(`/devices/${encodeURIComponent(id)}`)
export const fetchDeviceLive = (id: string) =>
  http.get<DeviceLive>(`/devices/${encodeURIComponent(id)}/live`)
export const createDevice = (device: NewDevice) => http.post<DeviceSecret>('/devices', device)
export const updateDevice = (id: string, patch: DevicePatch) =>
  http.patch<Device>(`/devices/${encodeURIComponent(id)}`, patch)
export const removeDevice = (id: string) => http.delete<void>(`/devices/${encodeURIComponent(id)}`)
export const enableDevice = (id: string) => http.post<Device>(`/devices/${encodeURIComponent(id)}/enable`)
export const disableDevice = (id: string) => http.post<Device>(`/devices/${encodeURIComponent(id)}/disable`)
export const rotateDeviceSecret = (id: string) =>
  http.post<DeviceSecret>(`/devices/${encodeURIComponent(id)}/rotate-secret`)

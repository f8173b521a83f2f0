/**
 * Devices announced through Home Assistant discovery and not adopted yet (issue 18): a
 * discovery application's login (a Tasmota, Zigbee2MQTT, ESPHome or Shelly) announced
 * them; a group admin adopts one into an application of the group, or forgets it.
 */
import { http } from './http'
import type { AdoptRequest, DiscoveredDevice } from '@/types/discovered'
import type { Device } from '@/types/models'

export const fetchDiscovered = (group?: string) => http.get<DiscoveredDevice[]>('/discovered', { group })
/** Creates the Hearth device (201) in `request.app`; the discovered entry goes away. */
export const adoptDiscovered = (app: string, id: string, request: AdoptRequest) =>
  http.post<Device>(`/discovered/${encodeURIComponent(app)}/${encodeURIComponent(id)}/adopt`, request)
/** Forgets an announced device (it comes back if it announces itself again). */
export const forgetDiscovered = (app: string, id: string) => http.delete<void>(`/discovered/${encodeURIComponent(app)}/${encodeURIComponent(id)}`)

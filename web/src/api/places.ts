import { http } from './http'

/** Where a group is: its time zone (IANA name or `+08:00`; unset: the hub's) and, for sun triggers, its coordinates. */
export interface GroupPlace {
  time_zone?: string | null
  latitude?: number | null
  longitude?: number | null
}

export const fetchPlace = (group: string) => http.get<GroupPlace>(`/groups/${encodeURIComponent(group)}/place`)
export const setPlace = (group: string, place: GroupPlace) => http.put<GroupPlace>(`/groups/${encodeURIComponent(group)}/place`, place)

import { http } from './http'
import type { Group, Membership } from '@/types/models'

export const fetchGroups = () => http.get<Group[]>('/groups')
export const createGroup = (id: string, name?: string) => http.post<Group>('/groups', { id, name: name || null })
export const fetchMembers = (group: string) => http.get<Membership[]>(`/groups/${encodeURIComponent(group)}/members`)
export const setMember = (group: string, user: string, role: string) =>
  http.put<Membership>(`/groups/${encodeURIComponent(group)}/members/${encodeURIComponent(user)}`, { role })
export const removeMember = (group: string, user: string) =>
  http.delete<void>(`/groups/${encodeURIComponent(group)}/members/${encodeURIComponent(user)}`)

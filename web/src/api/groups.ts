import { http } from './http'
import type { Group } from '@/types/models'

export const fetchGroups = () => http.get<Group[]>('/groups')

import { http } from './http'
import type { App } from '@/types/models'

export const fetchApps = (group?: string) => http.get<App[]>('/apps', { group })

import { http } from './http'
import type { Confirmation } from '@/types/automation'

/** The pending and recent (24 h) confirmation requests of the caller's groups, newest first. */
export const fetchConfirmations = () => http.get<Confirmation[]>('/confirmations')
export const confirmRequest = (id: string) => http.post<Confirmation>(`/confirmations/${encodeURIComponent(id)}/confirm`, {})
export const refuseRequest = (id: string) => http.post<Confirmation>(`/confirmations/${encodeURIComponent(id)}/refuse`, {})

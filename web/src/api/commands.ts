import { http } from './http'
import type { Command } from '@/types/models'

export const sendCommand = (device: string, name: string, params: Record<string, unknown>) =>
  http.post<Command>(`/devices/${encodeURIComponent(device)}/commands`, { name, params })
export const fetchCommands = (device: string, limit = 50) =>
  http.get<Command[]>(`/devices/${encodeURIComponent(device)}/commands`, { limit })

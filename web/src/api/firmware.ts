import { ApiError, apiUrl, http } from './http'
import type { Firmware, NewRollout, Rollout, RolloutView } from '@/types/firmware'

const path = (id: string) => encodeURIComponent(id)

export const fetchFirmware = () => http.get<Firmware[]>('/firmware')
export const removeFirmware = (id: string) => http.delete<void>(`/firmware/${path(id)}`)

/** Uploads an image as the raw body (hub administrators); the JSON helper cannot send a file. */
export async function uploadFirmware(file: Blob, meta: { name: string; version: string; kind: string }): Promise<Firmware> {
  let response: Response
  try {
    response = await fetch(apiUrl('/firmware', meta), {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/octet-stream' },
      body: file,
      credentials: 'same-origin',
    })
  } catch (error) {
    throw new ApiError(0, 'network', (error as Error).message || 'network error')
  }
  const text = await response.text()
  let json: unknown
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    json = undefined
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error
    throw new ApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? (text || response.statusText), error?.field)
  }
  return json as Firmware
}

export const fetchRollouts = () => http.get<Rollout[]>('/rollouts')
export const fetchRollout = (id: string) => http.get<RolloutView>(`/rollouts/${path(id)}`)
export const startRollout = (request: NewRollout) =>
  http.post<RolloutView>('/rollouts', { firmware: request.firmware, ...request.targets, percentage_first: request.percentage_first })
export const continueRollout = (id: string) => http.post<RolloutView>(`/rollouts/${path(id)}/continue`)
export const stopRollout = (id: string) => http.post<RolloutView>(`/rollouts/${path(id)}/stop`)
export const retryRollout = (id: string) => http.post<RolloutView>(`/rollouts/${path(id)}/retry`)

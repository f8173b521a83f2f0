import { http } from './http'
import type { Scene, SceneApplyResult, SceneSpec } from '@/types/automation'

export const fetchScenes = (group?: string) => http.get<Scene[]>('/scenes', { group })
export const createScene = (spec: SceneSpec) => http.post<Scene>('/scenes', spec)
export const updateScene = (id: string, spec: SceneSpec) => http.put<Scene>(`/scenes/${encodeURIComponent(id)}`, spec)
export const removeScene = (id: string) => http.delete<void>(`/scenes/${encodeURIComponent(id)}`)
/** Sends every target's command at once and waits for the devices: `4/5 confirmed, lamp-3 timeout`. */
export const applyScene = (id: string) => http.post<SceneApplyResult>(`/scenes/${encodeURIComponent(id)}/apply`, {})

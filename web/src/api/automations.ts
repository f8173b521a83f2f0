import { http } from './http'
import type { Automation, AutomationRun, AutomationSpec } from '@/types/automation'

export const fetchAutomations = (group?: string) => http.get<Automation[]>('/automations', { group })
export const fetchAutomation = (id: string) => http.get<Automation>(`/automations/${encodeURIComponent(id)}`)
export const createAutomation = (spec: AutomationSpec) => http.post<Automation>('/automations', spec)
export const updateAutomation = (id: string, spec: AutomationSpec) =>
  http.put<Automation>(`/automations/${encodeURIComponent(id)}`, spec)
export const removeAutomation = (id: string) => http.delete<void>(`/automations/${encodeURIComponent(id)}`)
export const enableAutomation = (id: string) => http.post<Automation>(`/automations/${encodeURIComponent(id)}/enable`)
export const disableAutomation = (id: string) => http.post<Automation>(`/automations/${encodeURIComponent(id)}/disable`)
export const runAutomation = (id: string) => http.post<{ run: string }>(`/automations/${encodeURIComponent(id)}/run`)
export const fetchRuns = (id: string, limit = 50) =>
  http.get<AutomationRun[]>(`/automations/${encodeURIComponent(id)}/runs`, { limit })
/** Makes (or replaces) the automation's secret webhook URL, shown only now: `{url: "/api/v1/hooks/…"}`. */
export const makeWebhook = (id: string) => http.post<{ url: string }>(`/automations/${encodeURIComponent(id)}/webhook`)
export const removeWebhook = (id: string) => http.delete<void>(`/automations/${encodeURIComponent(id)}/webhook`)

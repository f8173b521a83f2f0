import { http } from './http'
import type { Alert, AlertDetail, AlertQuery, AlertRule, AlertRuleSpec } from '@/types/alert'

const path = (id: string) => encodeURIComponent(id)

/** Alerts of one group or of every group of the caller, newest first. */
export const fetchAlerts = (query: AlertQuery = {}) => http.get<Alert[]>('/alerts', { ...query })
/** An alert with its notifications and their attempts. */
export const fetchAlert = (id: string) => http.get<AlertDetail>(`/alerts/${path(id)}`)
export const acknowledgeAlert = (id: string) => http.post<Alert>(`/alerts/${path(id)}/acknowledge`)
export const clearAlert = (id: string) => http.post<Alert>(`/alerts/${path(id)}/clear`)

export const fetchAlertRules = (group?: string) => http.get<AlertRule[]>('/alert-rules', { group })
export const fetchAlertRule = (id: string) => http.get<AlertRule>(`/alert-rules/${path(id)}`)
export const createAlertRule = (spec: AlertRuleSpec) => http.post<AlertRule>('/alert-rules', spec)
export const updateAlertRule = (id: string, spec: AlertRuleSpec) => http.put<AlertRule>(`/alert-rules/${path(id)}`, spec)
export const removeAlertRule = (id: string) => http.delete<void>(`/alert-rules/${path(id)}`)

/**
 * Alerts (issue 15) of the person's groups: the active ones (open and acknowledged) from
 * `GET /alerts` at start and after every reconnection, then live from
 * `hearth/alerts/{group}`; older (cleared) ones as the Alerts page asks for them. One map
 * by id holds every copy, merged so that a later copy always wins (`isLaterCopy`).
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import * as alertsApi from '@/api/alerts'
import { StoreId } from '@/enum'
import type { Alert, AlertQuery } from '@/types/alert'
import { compareAlerts, isActive, mergeAlert, parseAlertMessage } from '@/utils/alert'
import { useAuthStore } from './auth'

/** Members and up act on alerts (viewers read them); hub admins too. The hub checks again. */
export const ACTING_ROLES = ['owner', 'admin', 'member']

export const useAlertStore = defineStore(StoreId.Alerts, () => {
  const auth = useAuthStore()
  const byId = ref<Record<string, Alert>>({})
  /** Whether the active alerts came from the API once (the badge waits for it). */
  const loaded = ref(false)
  const busy = ref<Record<string, boolean>>({})

  const all = computed(() => Object.values(byId.value))
  /** Open and acknowledged, most severe first, then newest. */
  const active = computed(() => all.value.filter(isActive).sort(compareAlerts))
  /** The badge: open alerts nobody has acknowledged yet. */
  const openCount = computed(() => all.value.filter((alert) => alert.state === 'open').length)
  const criticalActive = computed(() => active.value.filter((alert) => alert.severity === 'critical'))

  function merge(alert: Alert) {
    mergeAlert(byId.value, alert)
  }

  /** A message from `hearth/alerts/{group}`. */
  function applyMessage(payload: string) {
    const alert = parseAlertMessage(payload)
    if (alert) merge(alert)
  }

  /**
   * The active alerts from the API. One this page held as active that the API no longer
   * lists ended while the connection was down: it is asked for on its own.
   */
  async function loadActive() {
    const list = await alertsApi.fetchAlerts({ state: 'open,acknowledged', limit: 500 })
    const listed = new Set(list.map((alert) => alert.id))
    for (const alert of list) merge(alert)
    const missed = all.value.filter((alert) => isActive(alert) && !listed.has(alert.id))
    await Promise.all(missed.map(async (alert) => {
      try {
        merge(await alertsApi.fetchAlert(alert.id))
      } catch {
        delete byId.value[alert.id]
      }
    }))
    loaded.value = true
  }

  /** Alerts the page asks for (cleared ones, a severity), merged in and returned. */
  async function loadHistory(query: AlertQuery): Promise<Alert[]> {
    const list = await alertsApi.fetchAlerts(query)
    for (const alert of list) merge(alert)
    return list.map((alert) => byId.value[alert.id] ?? alert)
  }

  function canAct(group: string): boolean {
    if (auth.user?.is_admin) return true
    const role = auth.groups.find((candidate) => candidate.id === group)?.my_role
    return ACTING_ROLES.includes(role ?? '')
  }

  async function act(id: string, action: (id: string) => Promise<Alert>) {
    busy.value[id] = true
    try {
      merge(await action(id))
    } finally {
      busy.value[id] = false
    }
  }

  const acknowledge = (id: string) => act(id, alertsApi.acknowledgeAlert)
  const clear = (id: string) => act(id, alertsApi.clearAlert)

  function reset() {
    byId.value = {}
    loaded.value = false
  }

  return { byId, loaded, busy, all, active, openCount, criticalActive, merge, applyMessage, loadActive, loadHistory, canAct, acknowledge, clear, reset }
})

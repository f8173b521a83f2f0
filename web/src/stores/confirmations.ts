/**
 * Confirmation gates (seed 004): the requests of the person's groups, from
 * `GET /confirmations` and then live from `hearth/confirmations/{group}`. The layout
 * shows the pending ones the person may answer, and every group member the outcome.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import * as confirmationsApi from '@/api/confirmations'
import { StoreId } from '@/enum'
import type { Confirmation } from '@/types/automation'
import { useAuthStore } from './auth'

/** How long an outcome stays on show after the request ends. */
export const OUTCOME_SHOWN_MS = 60_000

/** Requests the person should answer: pending, eligible, not yet answered by them. */
export function awaitingAnswer(requests: Confirmation[], user: string | null | undefined, now: number): Confirmation[] {
  return requests.filter((request) => request.state === 'pending' && request.eligible && request.expires_at_ms > now
    && !request.confirmed_by.includes(user ?? '') && !request.refused_by.includes(user ?? ''))
}

/** Requests to show: pending ones, and ended ones for a minute after they ended. */
export function onShow(requests: Confirmation[], now: number, endedAt: Record<string, number>): Confirmation[] {
  return requests
    .filter((request) => request.state === 'pending'
      ? request.expires_at_ms > now - OUTCOME_SHOWN_MS
      : now - (endedAt[request.id] ?? request.expires_at_ms) < OUTCOME_SHOWN_MS)
    .sort((a, b) => a.created_at_ms - b.created_at_ms)
}

export const useConfirmationStore = defineStore(StoreId.Confirmations, () => {
  const auth = useAuthStore()
  const requests = ref<Confirmation[]>([])
  /** When this page saw each request end (so that the outcome shows for a while). */
  const endedAt = ref<Record<string, number>>({})
  const dismissed = ref<Record<string, boolean>>({})
  const busy = ref<Record<string, boolean>>({})
  const error = ref<Record<string, string>>({})

  const me = computed(() => auth.user?.name ?? null)

  function upsert(request: Confirmation, now = Date.now()) {
    const index = requests.value.findIndex((known) => known.id === request.id)
    const before = index >= 0 ? requests.value[index] : null
    if (request.state !== 'pending' && (!before || before.state === 'pending')) endedAt.value[request.id] = now
    if (index >= 0) requests.value[index] = request
    else requests.value.push(request)
  }

  /** A message from `hearth/confirmations/{group}`. */
  function applyMessage(payload: string, now = Date.now()) {
    let request: Confirmation
    try {
      request = JSON.parse(payload) as Confirmation
    } catch {
      return
    }
    if (!request || typeof request.id !== 'string' || typeof request.state !== 'string') return
    // The topic carries the group's copy; whether this person may answer is the API's
    // word (`eligible` is per person), so a new request is asked for once more.
    const known = requests.value.find((candidate) => candidate.id === request.id)
    request.eligible = known ? known.eligible : false
    request.confirmed_by ??= []
    request.refused_by ??= []
    upsert(request, now)
    if (!known && request.state === 'pending') void load()
  }

  /** Asks the hub (at start and after a reconnection); a hub without the API has none. */
  async function load() {
    try {
      const list = await confirmationsApi.fetchConfirmations()
      for (const request of list) upsert(request)
    } catch {
      // Nothing to show; the live topic still brings new requests.
    }
  }

  async function answer(id: string, confirm: boolean) {
    busy.value[id] = true
    error.value[id] = ''
    try {
      upsert(await (confirm ? confirmationsApi.confirmRequest(id) : confirmationsApi.refuseRequest(id)))
    } catch (caught) {
      error.value[id] = (caught as Error).message
    } finally {
      busy.value[id] = false
    }
  }

  function dismiss(id: string) {
    dismissed.value[id] = true
  }

  function reset() {
    requests.value = []
    endedAt.value = {}
    dismissed.value = {}
  }

  return { requests, endedAt, dismissed, busy, error, me, upsert, applyMessage, load, answer, dismiss, reset }
})

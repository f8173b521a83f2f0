/**
 * The Firmware page (issue 17): images, the rollouts of the person's groups, and the one
 * open rollout with its devices: read again at once when `hearth/rollouts/{group}` says it
 * changed, and polled while it is not over (a message lost while offline is caught up).
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import * as firmwareApi from '@/api/firmware'
import { StoreId } from '@/enum'
import type { Firmware, NewRollout, Rollout, RolloutView } from '@/types/firmware'
import { errorText } from '@/utils/error'

/** How often an open rollout is read again. */
export const POLL_MS = 2000

/** A rollout is over when it was stopped or no device is still pending or in flight. */
export const isOver = (view: RolloutView | null) =>
  !view || view.rollout.state === 'stopped' || view.summary.pending + view.summary.in_flight === 0

export const useFirmwareStore = defineStore(StoreId.Firmware, () => {
  const images = ref<Firmware[]>([])
  const rollouts = ref<Rollout[]>([])
  const current = ref<RolloutView | null>(null)
  const error = ref('')
  const busy = ref(false)
  let timer: ReturnType<typeof setTimeout> | undefined

  const waitingForContinue = computed(() => current.value?.rollout.state === 'firstwave' && current.value.summary.failed > 0)

  async function attempt<T>(action: () => Promise<T>): Promise<T | undefined> {
    error.value = ''
    busy.value = true
    try {
      return await action()
    } catch (caught) {
      error.value = errorText(caught)
      return undefined
    } finally {
      busy.value = false
    }
  }

  const load = () =>
    attempt(async () => {
      ;[images.value, rollouts.value] = await Promise.all([firmwareApi.fetchFirmware(), firmwareApi.fetchRollouts()])
    })

  const upload = (file: Blob, meta: { name: string; version: string; kind: string }) =>
    attempt(async () => {
      const image = await firmwareApi.uploadFirmware(file, meta)
      images.value = [image, ...images.value.filter((known) => known.id !== image.id)]
      return image
    })

  const remove = (id: string) =>
    attempt(async () => {
      await firmwareApi.removeFirmware(id)
      images.value = images.value.filter((image) => image.id !== id)
    })

  function show(view: RolloutView) {
    current.value = view
    const known = rollouts.value.findIndex((rollout) => rollout.id === view.rollout.id)
    if (known >= 0) rollouts.value[known] = view.rollout
    else rollouts.value = [view.rollout, ...rollouts.value]
    schedule()
  }

  /** Reads the open rollout again in POLL_MS while it is not over. */
  function schedule() {
    if (timer) clearTimeout(timer)
    timer = undefined
    if (isOver(current.value)) return
    const id = current.value!.rollout.id
    timer = setTimeout(async () => {
      timer = undefined
      if (current.value?.rollout.id !== id) return
      try {
        show(await firmwareApi.fetchRollout(id))
      } catch (caught) {
        error.value = errorText(caught)
      }
    }, POLL_MS)
  }

  /** A message from `hearth/rollouts/{group}`: `{rollout, targets}` (the changed ones). */
  function applyMessage(payload: string) {
    let message: { rollout?: Rollout } | null = null
    try {
      message = JSON.parse(payload)
    } catch {
      return
    }
    const rollout = message?.rollout
    if (!rollout?.id) return
    const known = rollouts.value.findIndex((candidate) => candidate.id === rollout.id)
    if (known >= 0) rollouts.value[known] = rollout
    if (current.value?.rollout.id === rollout.id) void refresh(rollout.id)
  }

  async function refresh(id: string) {
    try {
      const view = await firmwareApi.fetchRollout(id)
      if (current.value?.rollout.id === id) show(view)
    } catch (caught) {
      error.value = errorText(caught)
    }
  }

  const open = (id: string) => attempt(async () => show(await firmwareApi.fetchRollout(id)))
  const start = (request: NewRollout) => attempt(async () => show(await firmwareApi.startRollout(request)))
  const continueCurrent = () => act(firmwareApi.continueRollout)
  const stopCurrent = () => act(firmwareApi.stopRollout)
  const retryCurrent = () => act(firmwareApi.retryRollout)

  function act(action: (id: string) => Promise<RolloutView>) {
    const id = current.value?.rollout.id
    if (!id) return Promise.resolve(undefined)
    return attempt(async () => show(await action(id)))
  }

  function close() {
    if (timer) clearTimeout(timer)
    timer = undefined
    current.value = null
  }

  return { images, rollouts, current, error, busy, waitingForContinue, load, upload, remove, applyMessage, open, start, continueCurrent, stopCurrent, retryCurrent, close }
})

/** A device's live state and its switch, for a component: `const { state, pending } = useDeviceLive(id)`. */
import { computed, toValue, type MaybeRefOrGetter } from 'vue'
import { useLiveStore } from '@/stores/live'

export function useDeviceLive(id: MaybeRefOrGetter<string>) {
  const live = useLiveStore()
  const state = computed(
    () => live.devices[toValue(id)] ?? { online: false, lastSeenMs: null, status: null, readings: {}, on: null },
  )
  const command = computed(() => live.switching[toValue(id)])
  const pending = computed(() => live.isPending(toValue(id)))
  const failed = computed(() => {
    const status = command.value?.status
    return status === 'failed' || status === 'timeout' ? status : null
  })
  const connected = computed(() => live.connection === 'online')
  return { state, command, pending, failed, connected }
}

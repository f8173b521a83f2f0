/**
 * One live connection per logged-in app: started by the layout, subscribed to the topics
 * of the devices in the store, stopped on logout.
 */
import { computed, watch, type WatchStopHandle } from 'vue'
import { fetchMqttCredentials } from '@/api/mqtt'
import { useAuthStore } from '@/stores/auth'
import { useDeviceStore } from '@/stores/devices'
import { useLiveStore } from '@/stores/live'
import { createLiveClient, type LiveClient } from './client'
import { deviceTopics } from './topics'

let client: LiveClient | null = null
let stopWatch: WatchStopHandle | null = null

export function startLive(): void {
  if (client) return
  const live = useLiveStore()
  const devices = useDeviceStore()
  const auth = useAuthStore()
  let lost = false
  client = createLiveClient({
    fetchCredentials: fetchMqttCredentials,
    onMessage: live.applyMessage,
    onState: (state) => {
      // Whatever happened while the connection was down is fetched once it is back.
      if (state === 'offline') lost = true
      if (state === 'online' && lost) {
        lost = false
        void devices.load(auth.currentGroup?.id ?? null)
      }
      live.setConnection(state)
    },
    onUnauthorized: () => auth.clear(),
  })
  const topics = computed(() => devices.devices.flatMap((device) => deviceTopics(device.id)))
  stopWatch = watch(topics, (next) => client?.setTopics(next), { immediate: true })
}

export function stopLive(): void {
  stopWatch?.()
  stopWatch = null
  client?.stop()
  client = null
}

export { useDeviceLive } from './useDeviceLive'

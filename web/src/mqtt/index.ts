/**
 * One live connection per logged-in app: started by the layout, subscribed to the topics
 * of the devices in the store, stopped on logout.
 */
import { computed, watch, type WatchStopHandle } from 'vue'
import { fetchMqttCredentials } from '@/api/mqtt'
import { useAlertStore } from '@/stores/alerts'
import { useAuthStore } from '@/stores/auth'
import { useCapabilityStore } from '@/stores/capabilities'
import { useConfirmationStore } from '@/stores/confirmations'
import { useDeviceStore } from '@/stores/devices'
import { useFirmwareStore } from '@/stores/firmware'
import { useLiveStore } from '@/stores/live'
import { useNotificationStore } from '@/stores/notifications'
import { useSnapshotStore } from '@/stores/snapshots'
import { snapshotTopics } from '@/utils/camera'
import { createLiveClient, type LiveClient } from './client'
import { groupTopics, parseHubTopic } from './hubTopics'
import { capabilitiesTopic } from '@/utils/capabilities'
import { deviceTopics } from './topics'

let client: LiveClient | null = null
let stopWatch: WatchStopHandle | null = null

export function startLive(): void {
  if (client) return
  const live = useLiveStore()
  const devices = useDeviceStore()
  const auth = useAuthStore()
  const confirmations = useConfirmationStore()
  const notifications = useNotificationStore()
  const alerts = useAlertStore()
  const firmware = useFirmwareStore()
  const capabilities = useCapabilityStore()
  const snapshots = useSnapshotStore()
  let lost = false
  client = createLiveClient({
    fetchCredentials: fetchMqttCredentials,
    onBytes: (topic, payload, retained) => snapshots.applyMessage(topic, payload, retained),
    onMessage: (topic, payload) => {
      const hub = parseHubTopic(topic)
      if (hub?.kind === 'confirmations') confirmations.applyMessage(payload)
      else if (hub?.kind === 'notifications') notifications.applyMessage(payload)
      else if (hub?.kind === 'alerts') alerts.applyMessage(payload)
      else if (hub?.kind === 'rollouts') firmware.applyMessage(payload)
      else if (!capabilities.applyMessage(topic, payload)) live.applyMessage(topic, payload)
    },
    onState: (state) => {
      // Whatever happened while the connection was down is fetched once it is back.
      if (state === 'offline') lost = true
      if (state === 'online' && lost) {
        lost = false
        void devices.load(auth.currentGroup?.id ?? null)
      }
      // Requests made before the subscription was in place come from the API.
      if (state === 'online') {
        void confirmations.load()
        void alerts.loadActive().catch(() => {})
      }
      live.setConnection(state)
    },
    onUnauthorized: () => auth.clear(),
    // A group's topics added while online (a group joined): its requests and alerts so far.
    onSubscribed: (added) => {
      const kinds = new Set(added.map((topic) => parseHubTopic(topic)?.kind))
      if (kinds.has('confirmations')) void confirmations.load()
      if (kinds.has('alerts')) void alerts.loadActive().catch(() => {})
    },
  })
  const topics = computed(() => [
    ...devices.devices.flatMap((device) => [...deviceTopics(device.id), capabilitiesTopic(device.id)]),
    ...snapshotTopics(devices.devices, capabilities.declared),
    ...groupTopics(auth.groups.map((group) => group.id)),
  ])
  stopWatch = watch(topics, (next) => client?.setTopics(next), { immediate: true })
}

export function stopLive(): void {
  useSnapshotStore().reset()
  stopWatch?.()
  stopWatch = null
  client?.stop()
  client = null
}

export { useDeviceLive } from './useDeviceLive'

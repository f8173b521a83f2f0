/** In-app notifications from automations' notify actions (`hearth/notifications/{group}`). */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { StoreId } from '@/enum'
import type { HubNotification } from '@/types/automation'

export const useNotificationStore = defineStore(StoreId.Notifications, () => {
  /** Arrived and not yet shown, oldest first; the layout takes them. */
  const unseen = ref<HubNotification[]>([])

  function applyMessage(payload: string) {
    let notification: HubNotification
    try {
      notification = JSON.parse(payload) as HubNotification
    } catch {
      return
    }
    if (!notification || typeof notification.message !== 'string') return
    unseen.value.push(notification)
    if (unseen.value.length > 20) unseen.value.shift()
  }

  /** The unseen notifications, which are then seen. */
  function take(): HubNotification[] {
    return unseen.value.splice(0)
  }

  return { unseen, applyMessage, take }
})

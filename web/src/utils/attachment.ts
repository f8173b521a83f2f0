import type { DeviceLive } from '@/types/models'

type Translate = (key: string, named?: Record<string, unknown>) => string

/**
 * Where an online device is attached (issue 20, a device that moves between a home hub
 * and the cloud): its own connection to this hub, or the site whose link relays it.
 * `null` when it is offline or the hub does not know (after a restart, until it is heard
 * from): the page then says nothing rather than guess.
 */
export function attachmentText(live: DeviceLive, t: Translate): string | null {
  const via = live.attached_via
  if (!live.is_online || !via) return null
  return via === 'direct' ? t('device.attachedDirect') : t('device.attachedSite', { site: via })
}

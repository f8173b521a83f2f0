/** What the hub and devices publish under `devices/{id}/...` (SPEC §4). */
export type DeviceTopicKind = 'data' | 'status' | 'heartbeat' | 'events' | 'command-status'

export const LIVE_TOPIC_KINDS: DeviceTopicKind[] = ['data', 'status', 'heartbeat', 'command-status']

export function deviceTopics(id: string): string[] {
  return LIVE_TOPIC_KINDS.map((kind) => `devices/${id}/${kind}`)
}

export function parseDeviceTopic(topic: string): { device: string; kind: DeviceTopicKind } | null {
  const match = /^devices\/([^/]+)\/(data|status|heartbeat|events|command-status)$/.exec(topic)
  return match ? { device: match[1], kind: match[2] as DeviceTopicKind } : null
}

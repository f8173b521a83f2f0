/**
 * The hub's own topics a browser follows for each of its person's groups: confirmation
 * requests (`hearth/confirmations/{group}`), automations' notifications
 * (`hearth/notifications/{group}`), alerts as they change (`hearth/alerts/{group}`) and
 * firmware rollouts' devices as they change (`hearth/rollouts/{group}`).
 */
export type HubTopicKind = 'confirmations' | 'notifications' | 'alerts' | 'rollouts'

export const hubTopic = (kind: HubTopicKind, group: string) => `hearth/${kind}/${group}`

export function groupTopics(groups: readonly string[]): string[] {
  return groups.flatMap((group) => [hubTopic('confirmations', group), hubTopic('notifications', group), hubTopic('alerts', group), hubTopic('rollouts', group)])
}

export function parseHubTopic(topic: string): { kind: HubTopicKind; group: string } | null {
  const match = /^hearth\/(confirmations|notifications|alerts|rollouts)\/([^/+#]+)$/.exec(topic)
  return match ? { kind: match[1] as HubTopicKind, group: match[2] } : null
}

/**
 * The device topic grammar (SPEC §4), the web app's copy of `hearth_model::topic`:
 * `devices/{id}/{data|status|heartbeat|events|command-status|snapshot}`, `devices/{id}/commands/{name}`
 * and `devices/{id}/commands/{name}/ack`. `tests/unit/protocol.test.ts` checks it against the
 * fixture the Rust side writes (`tests/fixtures/device-protocol.json`).
 */
export type DeviceTopicKind =
  | 'data'
  | 'status'
  | 'heartbeat'
  | 'events'
  | 'command'
  | 'command-ack'
  | 'command-status'
  | 'snapshot'

export interface DeviceTopic {
  device: string
  kind: DeviceTopicKind
  /** The command name, for `command` and `command-ack` (one level or more). */
  name?: string
}

/** What the web app follows live for each device it shows. */
export const LIVE_TOPIC_KINDS = ['data', 'status', 'heartbeat', 'command-status'] as const

const SINGLE_LEVEL_KINDS: ReadonlySet<string> = new Set(['data', 'status', 'heartbeat', 'events', 'command-status', 'snapshot'])

export function deviceTopic(device: string, kind: DeviceTopicKind, name?: string): string {
  if (kind === 'command') return `devices/${device}/commands/${name}`
  if (kind === 'command-ack') return `devices/${device}/commands/${name}/ack`
  return `devices/${device}/${kind}`
}

export function deviceTopics(id: string): string[] {
  return LIVE_TOPIC_KINDS.map((kind) => deviceTopic(id, kind))
}

function parseKind(rest: string): Pick<DeviceTopic, 'kind' | 'name'> | null {
  if (SINGLE_LEVEL_KINDS.has(rest)) return { kind: rest as DeviceTopicKind }
  if (!rest.startsWith('commands/')) return null
  const name = rest.slice('commands/'.length)
  if (name.endsWith('/ack')) {
    const answered = name.slice(0, -'/ack'.length)
    return answered ? { kind: 'command-ack', name: answered } : null
  }
  return name && name !== 'ack' ? { kind: 'command', name } : null
}

export function parseDeviceTopic(topic: string): DeviceTopic | null {
  if (!topic.startsWith('devices/')) return null
  const rest = topic.slice('devices/'.length)
  const slash = rest.indexOf('/')
  if (slash < 0) return null
  const device = rest.slice(0, slash)
  if (!device || device === '+' || device === '#') return null
  const kind = parseKind(rest.slice(slash + 1))
  return kind ? { device, ...kind } : null
}

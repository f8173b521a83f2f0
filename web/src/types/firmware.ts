/** Firmware images and rollouts (issue 17, docs/ota.md), as the API returns them. */

export interface Firmware {
  id: string
  name: string
  version: string
  kind: string
  sha256: string
  size: number
  uploaded_by: string
  uploaded_at_ms: number
}

export type TargetState = 'pending' | 'sent' | 'downloading' | 'installing' | 'succeeded' | 'failed' | 'stopped'
export type RolloutState = 'firstwave' | 'running' | 'stopped'

export interface Rollout {
  id: string
  firmware: string
  group: string
  selector: string
  first_percent: number
  state: RolloutState
  created_by: string
  created_at_ms: number
  updated_at_ms: number
}

export interface RolloutTarget {
  rollout: string
  device: string
  wave: number
  state: TargetState
  progress: number | null
  error: string | null
  command: string | null
  attempts: number
  reported_version: string | null
  updated_at_ms: number
}

export interface RolloutSummary {
  total: number
  pending: number
  in_flight: number
  succeeded: number
  failed: number
  stopped: number
  failures: [string, number][]
  text: string
}

export interface RolloutView {
  rollout: Rollout
  firmware: Firmware
  summary: RolloutSummary
  targets: RolloutTarget[]
}

/** What a rollout targets: exactly one of these. */
export type RolloutTargets = { device: string } | { kind: string; group: string } | { app: string }

export interface NewRollout {
  firmware: string
  targets: RolloutTargets
  percentage_first: number
}

/**
 * What devices are doing right now, fed by MQTT messages (`applyMessage`) and seeded from
 * the API. Controlled state is only ever what the device reported: a toggle (or any
 * control: brightness, setpoint, lock...) is `pending` with the value asked for until a
 * `command-status` for its command says `acked` (with the device's state, merged into its
 * readings) or `failed`/`timeout`.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { StoreId } from '@/enum'
import type { ConnectionState } from '@/mqtt/client'
import { isFinalStatus, statusPresence, statusRank } from '@/mqtt/protocol'
import { parseDeviceTopic } from '@/mqtt/topics'
import type { ControlCommand } from '@/types/capability'
import type { CommandStatusMessage, Device } from '@/types/models'
import { readBool } from '@/utils/capabilities'

export interface LiveState {
  online: boolean
  lastSeenMs: number | null
  status: string | null
  readings: Record<string, unknown>
  /** `on` as last confirmed by the device (ack state or a reading), if known. */
  on: boolean | null
}

export interface SwitchCommand {
  id: string
  status: string
  on: boolean
  error?: string
}

/** The latest command of one control of a device (`brightness`, `setpoint`, `lock`...). */
export interface ControlRequest {
  id: string
  status: string
  /** The command sent: its params are the value shown as pending. */
  command: ControlCommand
  error?: string
}

export const isFinal = isFinalStatus

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/**
 * A data payload's readings: all its fields but a top-level `ts`, the device's own time of
 * the readings (seconds, milliseconds or RFC 3339), which the hub keeps as their time, not
 * as a reading (issue 17). Shown as one, it would be a number on the card and a metric to chart.
 */
function readingsOf(payload: Record<string, unknown>): Record<string, unknown> {
  if (!('ts' in payload)) return payload
  const { ts: _deviceTime, ...readings } = payload
  return readings
}

export const useLiveStore = defineStore(StoreId.Live, () => {
  const connection = ref<ConnectionState>('idle')
  const devices = ref<Record<string, LiveState>>({})
  /** The latest switch command per device, by device id. */
  const switching = ref<Record<string, SwitchCommand>>({})
  /** The latest command per control, by device id, then control name. */
  const controls = ref<Record<string, Record<string, ControlRequest>>>({})
  /** Statuses seen for commands not (yet) known here: an ack can beat the POST's reply. */
  const early = new Map<string, CommandStatusMessage>()
  /** Bumped on every command status, so that command logs know to refresh. */
  const commandSeq = ref(0)

  function entry(id: string): LiveState {
    devices.value[id] ??= { online: false, lastSeenMs: null, status: null, readings: {}, on: null }
    return devices.value[id]
  }

  function seed(device: Device) {
    const state = entry(device.id)
    const live = device.live
    state.online = live.is_online
    state.lastSeenMs = live.last_seen_ms ?? null
    state.status = live.device_status ?? null
    state.readings = { ...state.readings, ...readingsOf(live.last_report_data ?? {}) }
    if (state.on === null) state.on = readBool(state.readings.on)
  }

  /** The state a device reported with its last acked command, unless something newer is known. */
  function seedReported(device: string, command: { status: string; reported_state?: Record<string, unknown> | null }) {
    const state = entry(device)
    const reported = command.reported_state
    if (command.status !== 'acked' || !reported || typeof reported !== 'object') return
    if (state.on === null) state.on = readBool(reported.on)
    const missing = Object.entries(reported).filter(([key]) => !(key in state.readings))
    if (missing.length) state.readings = { ...state.readings, ...Object.fromEntries(missing) }
  }

  function applyMessage(topic: string, payload: string, now = Date.now()) {
    const parsed = parseDeviceTopic(topic)
    if (!parsed) return
    const state = entry(parsed.device)
    const json = parseJson(payload)
    switch (parsed.kind) {
      case 'data':
        if (json && typeof json === 'object' && !Array.isArray(json)) {
          state.readings = { ...state.readings, ...readingsOf(json as Record<string, unknown>) }
          state.on = readBool(state.readings.on) ?? state.on
        }
        state.online = true
        state.lastSeenMs = now
        break
      case 'heartbeat':
        state.online = true
        state.lastSeenMs = now
        break
      case 'status': {
        // As the hub reads it: only a presence word (or `"online": false`) for offline
        // makes the device offline; any other status means it spoke, so it is online.
        const online = statusPresence(payload) !== 'offline'
        const text = json && typeof json === 'object' ? (json as { status?: unknown }).status : undefined
        state.online = online
        state.status = typeof text === 'string' ? text : payload.trim()
        if (online) state.lastSeenMs = now
        break
      }
      case 'command-status':
        if (json && typeof json === 'object') applyCommand(json as CommandStatusMessage)
        break
    }
  }

  function applyCommand(command: CommandStatusMessage) {
    commandSeq.value += 1
    const reported = command.reported_state
    if (command.status === 'acked' && reported && typeof reported === 'object' && !Array.isArray(reported)) {
      // What the device says its state is now: the controls show it as confirmed.
      const state = entry(command.device)
      state.readings = { ...state.readings, ...reported }
      state.on = readBool(reported.on) ?? state.on
    }
    const switched = switching.value[command.device]
    const current = switched?.id === command.id
      ? switched
      : Object.values(controls.value[command.device] ?? {}).find((request) => request.id === command.id)
    if (!current) {
      early.set(command.id, command)
      if (early.size > 200) early.delete(early.keys().next().value as string)
      return
    }
    if (statusRank(command.status) < statusRank(current.status)) return
    current.status = command.status
    if (command.status !== 'acked' && isFinal(command.status)) {
      current.error = typeof command.result === 'string' ? command.result : command.status
    }
  }

  /** Records a switch command just sent (from the POST's reply). */
  function trackSwitch(device: string, command: { id: string; status: string }, on: boolean) {
    switching.value[device] = { id: command.id, status: command.status, on }
    const seen = early.get(command.id)
    if (seen) {
      early.delete(command.id)
      applyCommand(seen)
    }
  }

  /** Records a control's command just sent (from the POST's reply). */
  function trackControl(device: string, control: string, command: { id: string; status: string }, sent: ControlCommand) {
    controls.value[device] = { ...controls.value[device], [control]: { id: command.id, status: command.status, command: sent } }
    const seen = early.get(command.id)
    if (seen) {
      early.delete(command.id)
      applyCommand(seen)
    }
  }

  function controlRequest(device: string, control: string): ControlRequest | undefined {
    return controls.value[device]?.[control]
  }

  function isPending(device: string): boolean {
    const command = switching.value[device]
    return command !== undefined && !isFinal(command.status)
  }

  function setConnection(state: ConnectionState) {
    connection.value = state
  }

  function reset() {
    devices.value = {}
    switching.value = {}
    controls.value = {}
    early.clear()
  }

  return {
    connection, devices, switching, controls, commandSeq, entry, seed, seedReported, applyMessage, applyCommand,
    trackSwitch, trackControl, controlRequest, isPending, setConnection, reset,
  }
})

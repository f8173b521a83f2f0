/**
 * A device's capabilities and the commands its controls send (docs/capabilities.md).
 *
 * Which capabilities: the registry's `metadata.capabilities` if set (the hub checked it),
 * else what the device declared itself on `devices/{id}/capabilities` (retained, read live
 * over MQTT), else what its kind implies (`hearth_model::capability::implied_capabilities`).
 * The command vocabulary is Hearth's own: `switch {on}`, `brightness {brightness}`,
 * `color {r,g,b}` / `color {color_temp_k}`, `setpoint {setpoint}`, `mode {mode}`,
 * `position {position}`, `open`, `close`, `stop`, `lock`, `unlock`.
 */
import type { Capability, CapabilitySource, ColorMode, ControlCommand, Rgb } from '@/types/capability'

export const CAPABILITY_TYPES = ['switch', 'dimmer', 'color', 'thermostat', 'cover', 'lock', 'sensor', 'binary_sensor', 'camera'] as const

/** Setpoint limits when a thermostat does not say (°C). */
export const THERMOSTAT_DEFAULTS = { min: 5, max: 30, step: 0.5 } as const

/** The colour temperatures the vocabulary allows (kelvin). */
export const COLOR_TEMP_RANGE = { min: 2000, max: 6500, step: 100 } as const

const CAPABILITIES_SUFFIX = '/capabilities'

/** `devices/{id}/capabilities`: where a device declares its capabilities (retained). */
export function capabilitiesTopic(device: string): string {
  return `devices/${device}${CAPABILITIES_SUFFIX}`
}

/** The device id of a `devices/{id}/capabilities` topic; `null` for any other topic. */
export function parseCapabilitiesTopic(topic: string): string | null {
  if (!topic.startsWith('devices/') || !topic.endsWith(CAPABILITIES_SUFFIX)) return null
  const device = topic.slice('devices/'.length, -CAPABILITIES_SUFFIX.length)
  return device && !/[/+#]/.test(device) ? device : null
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
const optionalText = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() ? value : undefined)
const optionalNumber = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined)
/** Only http(s) URLs reach an `<img>` or `<video>`: a device's declaration is not trusted. */
const optionalUrl = (value: unknown, mqtt = false): string | undefined =>
  typeof value === 'string' && ((mqtt && value === 'mqtt') || /^https?:\/\/\S+$/.test(value)) ? value : undefined

function readEntry(entry: unknown): Capability | null {
  if (!isObject(entry)) return null
  switch (entry.type) {
    case 'switch':
    case 'dimmer':
    case 'cover':
    case 'lock':
      return { type: entry.type }
    case 'color': {
      const modes = Array.isArray(entry.modes) ? entry.modes.filter((mode): mode is ColorMode => mode === 'rgb' || mode === 'temp') : []
      return { type: 'color', modes: modes.length ? modes : ['rgb'] }
    }
    case 'thermostat': {
      const modes = Array.isArray(entry.modes) ? entry.modes.filter((mode): mode is string => typeof mode === 'string' && mode !== '') : []
      return { type: 'thermostat', min: optionalNumber(entry.min), max: optionalNumber(entry.max), step: optionalNumber(entry.step), modes }
    }
    case 'sensor': {
      const key = optionalText(entry.key)
      return key ? { type: 'sensor', key, unit: optionalText(entry.unit), device_class: optionalText(entry.device_class) } : null
    }
    case 'binary_sensor': {
      const key = optionalText(entry.key)
      return key ? { type: 'binary_sensor', key, device_class: optionalText(entry.device_class) } : null
    }
    case 'camera':
      return { type: 'camera', mjpeg: optionalUrl(entry.mjpeg), hls: optionalUrl(entry.hls), snapshot: optionalUrl(entry.snapshot, true) }
    default:
      return null
  }
}

/**
 * A declared capability list, read leniently: entries of unknown types or without their
 * required fields are skipped (a newer device's declaration still shows what this app
 * knows). `null` when the value is not a list at all.
 */
export function parseCapabilities(value: unknown): Capability[] | null {
  if (typeof value === 'string') {
    try {
      return parseCapabilities(JSON.parse(value))
    } catch {
      return null
    }
  }
  if (!Array.isArray(value)) return null
  return value.map(readEntry).filter((entry): entry is Capability => entry !== null)
}

/** What a kind implies when nothing is declared (the same table as the hub's). */
export function impliedCapabilities(kind: string): Capability[] {
  switch (kind) {
    case 'switch':
    case 'relay':
    case 'plug':
      return [{ type: 'switch' }]
    case 'light':
    case 'dimmer':
      return [{ type: 'switch' }, { type: 'dimmer' }]
    case 'thermostat':
      return [{ type: 'thermostat' }]
    case 'lock':
      return [{ type: 'lock' }]
    case 'cover':
    case 'blind':
      return [{ type: 'cover' }]
    case 'camera':
      return [{ type: 'camera' }]
    case 'smoke':
      return [{ type: 'binary_sensor', key: 'smoke', device_class: 'smoke' }]
    default:
      return []
  }
}

/** A device's capabilities: metadata wins, then the device's own declaration, then its kind. */
export function resolveCapabilities(
  device: { kind: string; metadata?: unknown },
  declared?: unknown,
): { capabilities: Capability[]; source: CapabilitySource } {
  const metadata = isObject(device.metadata) ? parseCapabilities(device.metadata.capabilities) : null
  if (metadata) return { capabilities: metadata, source: 'metadata' }
  const own = declared === undefined || declared === null ? null : parseCapabilities(declared)
  if (own) return { capabilities: own, source: 'device' }
  return { capabilities: impliedCapabilities(device.kind), source: 'kind' }
}

export function findCapability<T extends Capability['type']>(capabilities: Capability[], type: T): Extract<Capability, { type: T }> | undefined {
  return capabilities.find((capability) => capability.type === type) as Extract<Capability, { type: T }> | undefined
}

/** The state keys the controls show, so that the plain readings list does not repeat them. */
export function controlledKeys(capabilities: Capability[]): Set<string> {
  const keys = new Set<string>()
  for (const capability of capabilities) {
    switch (capability.type) {
      case 'switch': keys.add('on'); break
      case 'dimmer': keys.add('brightness'); break
      case 'color': keys.add('color').add('color_temp_k'); break
      case 'thermostat': keys.add('setpoint').add('mode').add('temperature'); break
      case 'cover': keys.add('position'); break
      case 'lock': keys.add('locked'); break
      case 'sensor':
      case 'binary_sensor': keys.add(capability.key); break
    }
  }
  return keys
}

/** Whether any capability has a control that sends commands. */
export function hasControls(capabilities: Capability[]): boolean {
  return capabilities.some((capability) => ['switch', 'dimmer', 'color', 'thermostat', 'cover', 'lock'].includes(capability.type))
}

// --- Reading the state the device reported -------------------------------------------

/** A yes/no state: `true`/`false`, or 1/0 as some firmware says it. */
export function readBool(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value
  if (value === 1 || value === 0) return value === 1
  return null
}

export function readNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null
}

export function readRgb(value: unknown): Rgb | null {
  if (!isObject(value)) return null
  const { r, g, b } = value
  return [r, g, b].every((part) => typeof part === 'number') ? { r: r as number, g: g as number, b: b as number } : null
}

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value))

export function rgbToHex({ r, g, b }: Rgb): string {
  return `#${[r, g, b].map((part) => clamp(Math.round(part), 0, 255).toString(16).padStart(2, '0')).join('')}`
}

/** `#rrggbb` (or `#rgb`, or with alpha, which is dropped) to r, g, b; `null` if it is not a colour. */
export function hexToRgb(hex: string): Rgb | null {
  let digits = hex.trim().replace(/^#/, '')
  if (/^[0-9a-f]{3,4}$/i.test(digits)) digits = [...digits.slice(0, 3)].map((digit) => digit + digit).join('')
  if (!/^[0-9a-f]{6}([0-9a-f]{2})?$/i.test(digits)) return null
  return { r: parseInt(digits.slice(0, 2), 16), g: parseInt(digits.slice(2, 4), 16), b: parseInt(digits.slice(4, 6), 16) }
}

// --- Building commands ------------------------------------------------------------------

export function thermostatLimits(capability?: Extract<Capability, { type: 'thermostat' }>) {
  const min = capability?.min ?? THERMOSTAT_DEFAULTS.min
  const max = capability?.max ?? THERMOSTAT_DEFAULTS.max
  const step = capability?.step && capability.step > 0 ? capability.step : THERMOSTAT_DEFAULTS.step
  return { min, max, step }
}

/** `value` within min..max on the step grid from min (floating point tidied to 4 places). */
export function snapToStep(value: number, min: number, max: number, step: number): number {
  const snapped = min + Math.round((clamp(value, min, max) - min) / step) * step
  return Number(clamp(snapped, min, max).toFixed(4))
}

export const switchCommand = (on: boolean): ControlCommand => ({ name: 'switch', params: { on } })

export const brightnessCommand = (percent: number): ControlCommand => ({
  name: 'brightness',
  params: { brightness: Math.round(clamp(percent, 0, 100)) },
})

export const rgbCommand = (rgb: Rgb): ControlCommand => ({
  name: 'color',
  params: { r: clamp(Math.round(rgb.r), 0, 255), g: clamp(Math.round(rgb.g), 0, 255), b: clamp(Math.round(rgb.b), 0, 255) },
})

export const colorTempCommand = (kelvin: number): ControlCommand => ({
  name: 'color',
  params: { color_temp_k: Math.round(clamp(kelvin, COLOR_TEMP_RANGE.min, COLOR_TEMP_RANGE.max)) },
})

export function setpointCommand(value: number, capability?: Extract<Capability, { type: 'thermostat' }>): ControlCommand {
  const { min, max, step } = thermostatLimits(capability)
  return { name: 'setpoint', params: { setpoint: snapToStep(value, min, max, step) } }
}

export const modeCommand = (mode: string): ControlCommand => ({ name: 'mode', params: { mode } })

export const positionCommand = (percent: number): ControlCommand => ({
  name: 'position',
  params: { position: Math.round(clamp(percent, 0, 100)) },
})

export const coverCommand = (action: 'open' | 'close' | 'stop'): ControlCommand => ({ name: action, params: {} })

export const lockCommand = (locked: boolean): ControlCommand => ({ name: locked ? 'lock' : 'unlock', params: {} })

// --- Sensors ----------------------------------------------------------------------------

/** Device classes the app has a default unit for (and an icon, components/capabilities/ClassIcon.vue). */
export const DEVICE_CLASS_UNITS: Readonly<Record<string, string>> = {
  temperature: '°C',
  humidity: '%',
  power: 'W',
  energy: 'kWh',
  battery: '%',
  illuminance: 'lx',
  pressure: 'hPa',
  voltage: 'V',
  current: 'A',
  co2: 'ppm',
}

export function sensorUnit(capability: Extract<Capability, { type: 'sensor' }>): string {
  return capability.unit ?? DEVICE_CLASS_UNITS[capability.device_class ?? ''] ?? ''
}

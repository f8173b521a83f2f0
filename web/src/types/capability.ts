/**
 * What a device can do: the web app's copy of `hearth_model::capability::Capability`
 * (docs/capabilities.md). Typed by hand: the OpenAPI document sees a device's metadata
 * as a free-form object.
 */
export type ColorMode = 'rgb' | 'temp'

export type Capability =
  | { type: 'switch' }
  | { type: 'dimmer' }
  | { type: 'color'; modes?: ColorMode[] }
  | { type: 'thermostat'; min?: number; max?: number; step?: number; modes?: string[] }
  | { type: 'cover' }
  | { type: 'lock' }
  | { type: 'sensor'; key: string; unit?: string; device_class?: string }
  | { type: 'binary_sensor'; key: string; device_class?: string }
  | { type: 'camera'; mjpeg?: string; hls?: string; snapshot?: string }

export type CapabilityType = Capability['type']

/** Where a device's capabilities came from: its registry metadata, its retained `devices/{id}/capabilities`, or its kind. */
export type CapabilitySource = 'metadata' | 'device' | 'kind'

/** A command as the commands API takes it: name and JSON params. */
export interface ControlCommand {
  name: string
  params: Record<string, unknown>
}

export interface Rgb {
  r: number
  g: number
  b: number
}

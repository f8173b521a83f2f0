/**
 * What `GET /api/v1/discovered` returns and what adopting takes (issue 18). Written from
 * the shared design while the hub's side was being built; replaced by the generated
 * schemas once web/openapi.json describes them.
 */

/** One capability the announced components imply (`{"type": "switch"}`, a sensor's key and unit…). */
export interface DiscoveredCapability {
  type: string
  key?: string | null
  unit?: string | null
  device_class?: string | null
  [field: string]: unknown
}

/** One Home Assistant component of an announced device (a switch, a sensor…). */
export interface DiscoveredComponent {
  component: string
  object_id: string
  /** The config topic that announced it. */
  config_topic?: string
  name?: string | null
  unique_id?: string | null
  device_class?: string | null
  unit?: string | null
  /** What Hearth does not understand in this config, in words (why a control is missing). */
  unsupported?: string[]
  [field: string]: unknown
}

export interface DiscoveredDevice {
  /** The discovery application whose login announced it. */
  app: string
  /** The discovery id (the HA device's first identifier, sanitized to a Hearth device id). */
  id: string
  group: string
  name?: string | null
  manufacturer?: string | null
  model?: string | null
  sw_version?: string | null
  /** The kind the adopted device gets (switch, light, sensor…). */
  kind?: string | null
  components: DiscoveredComponent[]
  capabilities: DiscoveredCapability[]
  /** From the announced availability topic; null when it has none or said nothing yet. */
  online?: boolean | null
  first_seen_ms: number
  last_seen_ms: number
  /** The Hearth device it became (adopted entries are not listed). */
  adopted_device?: string | null
}

/** `POST /discovered/{app}/{id}/adopt`: the application it joins, and optionally a new id, name and room. */
export interface AdoptRequest {
  app: string
  id?: string | null
  name?: string | null
  room?: string | null
}

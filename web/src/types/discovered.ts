/**
 * What `GET /api/v1/discovered` returns and what adopting takes (issue 18), from the
 * generated schemas. The OpenAPI document describes a capability and a component's config
 * only as objects, so those two are typed here (the vocabulary of docs/capabilities.md).
 */
import type { components } from './api'

type Schemas = components['schemas']

/** One capability the announced components imply (`{"type": "switch"}`, a sensor's key and unit…). */
export interface DiscoveredCapability {
  type: string
  key?: string | null
  unit?: string | null
  device_class?: string | null
  [field: string]: unknown
}

/** One Home Assistant component of an announced device (a switch, a sensor…). */
export type DiscoveredComponent = Omit<Schemas['DiscoveredComponent'], 'config'> & { config: Record<string, unknown> }

/** An announced device, keyed by its discovering application (`app`) and its discovery id (`id`). */
export type DiscoveredDevice = Omit<Schemas['DiscoveredDevice'], 'capabilities' | 'components'> & {
  capabilities: DiscoveredCapability[]
  components: DiscoveredComponent[]
}

/** `POST /discovered/{app}/{id}/adopt`: the application it joins, and optionally a new id, name and room. */
export type AdoptRequest = Schemas['AdoptDiscoveredRequest']

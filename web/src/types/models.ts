/**
 * Short names for the schemas of the generated `api.ts` (`npm run gen:api` regenerates
 * it from the hub's OpenAPI document), plus the few shapes the API does not describe.
 */
import type { components } from './api'

type Schemas = components['schemas']

export type UserView = Schemas['UserView']
export type Me = Schemas['MeView']
export type Membership = Schemas['MembershipView']
export type Group = Schemas['GroupView']
export type App = Schemas['AppView']
export type AppSecret = Schemas['AppSecretView']
export type Grant = Schemas['GrantView']
export type AuditEntry = Schemas['AuditEntryView']
export type RegisterRequest = Schemas['RegisterRequest']
export type OidcProvider = Schemas['OidcProviderView']
export type DevicePatch = Schemas['DevicePatchRequest']
export type Device = Schemas['DeviceView']
export type DeviceLive = Schemas['DeviceLiveView']
export type DeviceSecret = Schemas['DeviceSecretView']
export type Point = Schemas['PointView']
export type Aggregate = Schemas['AggregateView']
export type StatusChange = Schemas['StatusChangeView']
/** A command as the API returns it and as the hub announces it on `devices/{id}/command-status`. */
export type Command = Schemas['Command']
export type CommandStatus = Schemas['CommandStatus']
export type Token = Schemas['TokenView']
export type NewToken = Schemas['NewTokenView']
export type MqttCredential = Schemas['IssuedCredential']
export type NewDeviceRequest = Schemas['NewDeviceRequest']
export type ProfilePatch = Schemas['ProfilePatch']

export interface Page<T> {
  items: T[]
  total: number
}

/**
 * What the hub publishes on `devices/{id}/command-status`: the same `Command` the API returns
 * (one type on both wires); only the fields the live store reads are required, since a
 * message is checked at run time, not by the compiler.
 */
export type CommandStatusMessage = Pick<Command, 'id' | 'device' | 'name'> & { status: string } & Partial<Omit<Command, 'id' | 'device' | 'name' | 'status'>>

/** Pinia store ids, in one place (STYLE.md: "store ids in one enum"). */
export enum StoreId {
  App = 'app',
  Auth = 'auth',
  Devices = 'devices',
  Live = 'live',
  Groups = 'groups',
  Apps = 'apps',
  Audit = 'audit',
  Automations = 'automations',
  Scenes = 'scenes',
  Confirmations = 'confirmations',
  Notifications = 'notifications',
  Alerts = 'alerts',
  AlertRules = 'alert-rules',
  Firmware = 'firmware',
  Capabilities = 'capabilities',
  Discovered = 'discovered',
  Snapshots = 'snapshots',
  Bridge = 'bridge',
}

/** localStorage keys. */
export enum StorageKey {
  Theme = 'hearth.theme',
  Locale = 'hearth.locale',
  Group = 'hearth.group',
}

/** Device kinds that the app can switch on and off with the `switch` command. */
export const SWITCHABLE_KINDS = ['switch', 'relay', 'light'] as const

/** Roles in a group, most powerful first. */
export const ROLES = ['owner', 'admin', 'member', 'viewer'] as const

/** What a grant lets a user do with an application's devices, least first. */
export const PERMISSIONS = ['view', 'control', 'manage'] as const

/** The kinds a device can be given in the app (the hub accepts any string). */
export const DEVICE_KINDS = ['sensor', 'switch', 'relay', 'light', 'thermostat', 'cover', 'lock', 'smoke', 'camera', 'gateway']

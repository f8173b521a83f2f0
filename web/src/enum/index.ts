/** Pinia store ids, in one place (STYLE.md: "store ids in one enum"). */
export enum StoreId {
  App = 'app',
  Auth = 'auth',
  Devices = 'devices',
  Live = 'live',
}

/** localStorage keys. */
export enum StorageKey {
  Theme = 'hearth.theme',
  Locale = 'hearth.locale',
  Group = 'hearth.group',
}

/** Device kinds that the app can switch on and off with the `switch` command. */
export const SWITCHABLE_KINDS = ['switch', 'relay', 'light'] as const

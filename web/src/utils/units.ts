/** `1536` → `1.5 KiB`, in the locale's digits: sizes of the cloud link's queue. */
export function formatBytes(bytes: number, locale: string): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1
  return `${value.toLocaleString(locale, { maximumFractionDigits: digits })} ${units[unit]}`
}

/** `4200` → `4.2 sec` / `4.2秒`, `95000` → `1.6 min`: how far a relay is behind. */
export function formatDuration(ms: number, locale: string): string {
  const [value, unit] = ms < 60_000 ? [ms / 1000, 'second'] : ms < 3_600_000 ? [ms / 60_000, 'minute'] : ms < 86_400_000 ? [ms / 3_600_000, 'hour'] : [ms / 86_400_000, 'day']
  return new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: value >= 10 ? 0 : 1 }).format(value)
}

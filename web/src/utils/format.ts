/** Display helpers shared by the views. */

/** "12 s ago", "5 min ago", … in the given locale; "never" for null. */
export function timeAgo(ms: number | null | undefined, locale: string, never: string, now = Date.now()): string {
  if (!ms) return never
  const seconds = Math.round((ms - now) / 1000)
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' })
  const abs = Math.abs(seconds)
  if (abs < 60) return format.format(seconds, 'second')
  if (abs < 3600) return format.format(Math.round(seconds / 60), 'minute')
  if (abs < 86_400) return format.format(Math.round(seconds / 3600), 'hour')
  return format.format(Math.round(seconds / 86_400), 'day')
}

export function dateTime(ms: number | null | undefined, locale: string): string {
  return ms ? new Date(ms).toLocaleString(locale) : ''
}

/** A reading for display: numbers rounded, objects as JSON. */
export function formatReading(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2).replace(/0+$/, '')
  if (typeof value === 'boolean' || typeof value === 'string') return String(value)
  return JSON.stringify(value)
}

/** Numeric readings only (what can be charted). */
export function numericMetrics(readings: Record<string, unknown>): string[] {
  return Object.entries(readings)
    .filter(([, value]) => typeof value === 'number')
    .map(([key]) => key)
    .sort()
}

export const RANGES = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 } as const
export type RangeKey = keyof typeof RANGES

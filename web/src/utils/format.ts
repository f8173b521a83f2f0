/** Display helpers shared by the views. */

/** Under this age, and at any time in the future, a past event reads "just now". */
export const JUST_NOW_MS = 10_000

/** What `timeAgo` says when it has no number to give. */
export interface TimeAgoLabels {
  never: string
  justNow: string
}

/**
 * "12 seconds ago", "5 minutes ago", … in the given locale, for a time in the past; `never`
 * for null. The browser's clock, the hub's clock and the refresh of `now` disagree by a
 * little, so a time that reads as the future, or as a few seconds ago, is `justNow`: a past
 * event never reads "in 1 second".
 */
export function timeAgo(ms: number | null | undefined, locale: string, labels: TimeAgoLabels, now = Date.now()): string {
  if (!ms) return labels.never
  const ageMs = now - ms
  if (ageMs < JUST_NOW_MS) return labels.justNow
  const seconds = Math.floor(ageMs / 1000)
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' })
  if (seconds < 60) return format.format(-seconds, 'second')
  if (seconds < 3600) return format.format(-Math.floor(seconds / 60), 'minute')
  if (seconds < 86_400) return format.format(-Math.floor(seconds / 3600), 'hour')
  return format.format(-Math.floor(seconds / 86_400), 'day')
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

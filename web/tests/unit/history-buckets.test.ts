import { describe, expect, it } from 'vitest'
import { bucketFor } from '@/api/history'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const seconds = (bucket: string) => {
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }
  return Number(bucket.slice(0, -1)) * units[bucket.slice(-1)]
}

describe('bucketFor', () => {
  it('keeps a chart at about 300 points or fewer', () => {
    for (const span of [HOUR, 6 * HOUR, DAY, 7 * DAY, 30 * DAY, 90 * DAY, 365 * DAY, 3650 * DAY]) {
      const points = span / 1000 / seconds(bucketFor(span))
      expect(points, `${span}`).toBeLessThanOrEqual(300)
      expect(points, `${span}`).toBeGreaterThan(100)
    }
  })

  it('asks for buckets the hub keeps tiers of: hours for a month, whole days for a year', () => {
    expect(bucketFor(DAY)).toBe('5m')
    expect(bucketFor(30 * DAY)).toBe('3h')
    expect(bucketFor(365 * DAY)).toBe('2d')
    // Between half a day and a day per bucket: a day, never 13h (not a whole tier).
    expect(bucketFor(150 * DAY)).toBe('1d')
  })
})

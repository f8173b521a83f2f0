import { apiUrl, http } from './http'
import type { Aggregate, Point, StatusChange } from '@/types/models'

export interface Range {
  from?: number
  to?: number
}

const path = (id: string, rest: string) => `/devices/${encodeURIComponent(id)}/${rest}`

export const fetchPoints = (id: string, metric: string, range: Range, limit?: number) =>
  http.get<Point[]>(path(id, 'points'), { metric, ...range, limit })
export const fetchAggregates = (id: string, metric: string, range: Range, bucket: string) =>
  http.get<Aggregate[]>(path(id, 'aggregates'), { metric, ...range, bucket })
export const fetchLatest = (id: string) => http.get<Point[]>(path(id, 'latest'))
export const fetchStatusHistory = (id: string, range: Range = {}, limit = 50) =>
  http.get<StatusChange[]>(path(id, 'status-history'), { ...range, limit })
/** A link (not a fetch): the browser downloads it with the session cookie. */
export const exportCsvUrl = (id: string, metric: string, range: Range) =>
  apiUrl(path(id, 'export.csv'), { metric, ...range })

/**
 * A bucket width that gives at most ~300 points over `ms` milliseconds. From half a day on
 * it is whole days: the hub answers those from its day tier, one row a day, instead of
 * 24 hour rows (a year's chart reads 365 rows, not 8,760).
 */
export function bucketFor(ms: number): string {
  const seconds = Math.max(30, Math.ceil(ms / 1000 / 300))
  if (seconds < 60) return '30s'
  if (seconds < 3600) return `${Math.ceil(seconds / 60)}m`
  if (seconds < 43_200) return `${Math.ceil(seconds / 3600)}h`
  return `${Math.ceil(seconds / 86_400)}d`
}

/** A chart series for one device and metric: raw points over short ranges, bucket averages over long ones. */
export async function fetchSeries(id: string, metric: string, range: Required<Range>): Promise<[number, number][]> {
  const span = range.to - range.from
  if (span <= 3_600_000) {
    const points = await fetchPoints(id, metric, range, 5000)
    return points.map((point) => [point.at_ms, point.value])
  }
  const buckets = await fetchAggregates(id, metric, range, bucketFor(span))
  return buckets.map((bucket) => [bucket.bucket_start_ms, Number(bucket.avg.toFixed(3))])
}

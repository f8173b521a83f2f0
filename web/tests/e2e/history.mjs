// History across the compacted/plain boundary end to end (issue 19, docs/history.md), in a
// real headless Chromium against the real hub: a sensor that was offline sends its
// buffered readings of the past six hours (one every 5 minutes, with their device time
// `ts`) and a few of now over MQTT (mqtt.js, QoS 1: acknowledged means stored); the real
// `hearth history compact` moves the closed hours into blocks beside the running hub, and
// `hearth history stats` shows blocks and plain rows; then a late reading lands in an
// already compacted hour. The device page's chart over the last 24 hours, the Reports
// page's chart and the CSV export show every reading exactly once, in time order: the
// chart's buckets equal what the readings make of them, computed here from what was sent,
// and the chart draws as many points as the hub answered. The same again after a second
// compaction merged the late reading into its block. Screenshot:
// docs/screenshots/history-compacted.png. Every wait is for a condition; no fixed ports.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import { launch } from './browser.mjs'
import { ADMIN_PASSWORD, hubBinary, startHub } from './hub.mjs'

const WAIT = { timeout: 30_000 }
const shots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url))
mkdirSync(shots, { recursive: true })

const DEVICE_ID = 'cellar-probe'
const METRIC = 'temperature'
const MINUTE = 60_000
const HOUR = 60 * MINUTE

let hub, browser, page, sensor
/** Every reading the sensor sent, `[ts, value]`: what the history must hold, once each. */
const sent = []
/** What `hearth history stats` said after the first compaction. */
let firstStats

/** The real binary's `history` command against the running hub's data directory. */
async function history(...args) {
  // The working directory holds no hearth.toml: the command reads only the data directory.
  const { stdout } = await promisify(execFile)(hubBinary(), ['history', ...args, '--data-dir', hub.dataDir, '--json'], {
    cwd: dirname(hub.dataDir),
    env: { ...process.env, RUST_LOG: 'warn', HEARTH_LOG: 'warn' },
  })
  return JSON.parse(stdout)
}

async function api(method, path, data) {
  const response = await page.request.fetch(`${hub.http}/api/v1${path}`, { method, data, headers: { Origin: hub.http } })
  const text = await response.text()
  assert.ok(response.ok(), `${method} ${path}: ${response.status()} ${text}`)
  return text ? JSON.parse(text) : undefined
}

/** Publishes readings `[ts, value]` with their device time, each acknowledged (QoS 1). */
async function publish(readings) {
  for (const [ts, value] of readings) {
    await sensor.publishAsync(`devices/${DEVICE_ID}/data`, JSON.stringify({ ts, [METRIC]: value }), { qos: 1 })
    sent.push([ts, value])
  }
}

/** The readings sent within `[from, to)`, oldest first. */
function sentWithin(from, to) {
  return sent.filter(([ts]) => ts >= from && ts < to).sort((a, b) => a[0] - b[0])
}

/** `5m`, `1h`, `30s`, `1d` or milliseconds, as the hub reads a bucket. */
function bucketMs(text) {
  const match = /^(\d+)(s|m|h|d)?$/.exec(text)
  assert.ok(match, `bucket ${text}`)
  return Number(match[1]) * { s: 1000, m: MINUTE, h: HOUR, d: 24 * HOUR, undefined: 1 }[match[2]]
}

/** What the readings sent within `[from, to)` make of buckets of `width` ms. */
function expectedBuckets(from, to, width) {
  const buckets = new Map()
  for (const [ts, value] of sentWithin(from, to)) {
    const start = Math.floor(ts / width) * width
    const bucket = buckets.get(start) ?? { bucket_start_ms: start, count: 0, min: Infinity, max: -Infinity, sum: 0 }
    bucket.count += 1
    bucket.min = Math.min(bucket.min, value)
    bucket.max = Math.max(bucket.max, value)
    bucket.sum += value
    buckets.set(start, bucket)
  }
  return [...buckets.values()].sort((a, b) => a.bucket_start_ms - b.bucket_start_ms)
}

/** The hub's answer to the chart's aggregates request equals what the readings make of it. */
async function assertAggregates(response) {
  assert.equal(response.status(), 200)
  const url = new URL(response.url())
  const from = Number(url.searchParams.get('from'))
  const to = Number(url.searchParams.get('to'))
  assert.equal(url.searchParams.get('metric'), METRIC)
  // The range covers everything sent: the check below misses nothing.
  assert.equal(sentWithin(from, to).length, sent.length, `the chart's range ${from}..${to} leaves readings out`)
  const answer = await response.json()
  const expected = expectedBuckets(from, to, bucketMs(url.searchParams.get('bucket')))
  assert.deepEqual(
    answer.map(({ bucket_start_ms, count, min, max }) => ({ bucket_start_ms, count, min, max })),
    expected.map(({ bucket_start_ms, count, min, max }) => ({ bucket_start_ms, count, min, max })),
  )
  for (const [index, bucket] of answer.entries()) {
    assert.ok(Math.abs(bucket.avg - expected[index].sum / expected[index].count) < 1e-9, JSON.stringify(bucket))
  }
  assert.equal(answer.reduce((sum, bucket) => sum + bucket.count, 0), sent.length)
  return answer
}

/** Waits until the chart (in `scope`) was given `count` points and has painted its canvas. */
async function chartDraws(scope, count) {
  await page.waitForFunction(
    ({ css, count }) => {
      const chart = document.querySelector(css)
      const canvas = chart?.querySelector('canvas')
      if (chart?.getAttribute('data-points') !== String(count) || !canvas?.width) return false
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data
      return pixels.some((value, index) => index % 4 === 3 && value > 0)
    },
    { css: `${scope} [data-test="line-chart"]`, count },
    WAIT,
  )
}

/** Picks `label` in the Naive UI select marked `data-test=test`. */
async function choose(test, label) {
  await page.locator(`[data-test="${test}"]`).click()
  await page.locator('.n-base-select-menu:visible .n-base-select-option', { hasText: label }).first().click()
  await page.locator('.n-base-select-menu:visible').first().waitFor({ state: 'detached', ...WAIT })
}

/**
 * The device page: the chart over the last 24 hours is the hub's answer, every bucket as
 * the readings make it; the CSV export over that range holds every reading once, in order.
 */
async function assertDevicePage() {
  await page.goto(`${hub.http}/devices/${DEVICE_ID}`)
  await page.locator('[data-test="metric-select"] .n-base-selection-label', { hasText: METRIC }).waitFor(WAIT)
  // The payload's `ts` is the readings' time, not a reading of its own.
  await page.locator(`[data-test="reading-${DEVICE_ID}-${METRIC}"]`, { hasText: '92.5' }).waitFor(WAIT)
  assert.equal(await page.locator(`[data-test="reading-${DEVICE_ID}-ts"]`).count(), 0)
  await page.locator('[data-test="chart-spin"][data-loading="false"]').waitFor(WAIT)
  const answered = page.waitForResponse((response) => response.url().includes(`/devices/${DEVICE_ID}/aggregates?`), WAIT)
  await choose('range-select', 'Last 24 hours')
  const answer = await assertAggregates(await answered)
  await chartDraws('[data-test="chart-spin"]', answer.length)
  await page.locator('[data-test="chart-spin"][data-loading="false"]').waitFor(WAIT)

  const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.locator('[data-test="export-csv"]').click()])
  const url = new URL(download.url())
  const expected = sentWithin(Number(url.searchParams.get('from')), Number(url.searchParams.get('to')))
  assert.equal(expected.length, sent.length, `the export's range leaves readings out: ${url}`)
  const [header, ...rows] = readFileSync(await download.path(), 'utf8').trim().split('\n')
  assert.equal(header, 'time_ms,metric,value')
  const got = rows.map((row) => {
    const [time, metric, value] = row.split(',')
    assert.match(metric, new RegExp(`^"?${METRIC}"?$`), row)
    return [Number(time), Number(value)]
  })
  assert.deepEqual(got, expected, 'the CSV holds every reading once, in time order')
}

before(async () => {
  // The hub's own upkeep runs at start and then hourly: within this test only the command
  // compacts, so what it reports is all that moved.
  hub = await startHub({ config: '[history]\ninterval_secs = 3600\n' })
  browser = await launch()
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, locale: 'en-US', acceptDownloads: true })
  page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  await page.goto(`${hub.http}/login`)
  await page.locator('input[name="username"]').fill('admin')
  await page.locator('input[name="password"]').fill(ADMIN_PASSWORD)
  await page.locator('[data-test="login-submit"]').click()
  await page.waitForURL((url) => url.pathname === '/', WAIT)

  const [group] = await api('GET', '/groups')
  await api('POST', '/apps', { id: 'cellar', group: group.id, name: 'Cellar sensors' })
  const created = await api('POST', '/devices', { id: DEVICE_ID, app: 'cellar', name: 'Cellar probe', kind: 'sensor', room: 'cellar' })
  sensor = await mqtt.connectAsync(hub.mqtt, {
    clientId: DEVICE_ID, username: DEVICE_ID, password: created.secret, reconnectPeriod: 0,
    will: { topic: `devices/${DEVICE_ID}/status`, payload: 'offline', qos: 1, retain: true },
  })
  await sensor.publishAsync(`devices/${DEVICE_ID}/status`, 'online', { qos: 1, retain: true })
})

after(async () => {
  await sensor?.endAsync()
  await browser?.close()
  await hub?.stop()
})

test('buffered readings of six hours are compacted beside the running hub; the current hour stays plain', async () => {
  const now = Date.now()
  // What the sensor buffered while offline, oldest first (values 10, 10.25, ...: exact in
  // binary, so sums and averages compare exactly), then three of now.
  const buffered = Array.from({ length: 72 }, (_, index) => [now - 6 * HOUR + index * 5 * MINUTE, 10 + index * 0.25])
  await publish(buffered)
  await publish([[now - 3000, 90.5], [now - 2000, 91.5], [now - 1000, 92.5]])

  const compacted = await history('compact', '--no-retention')
  assert.ok(compacted.points > 0, JSON.stringify(compacted))
  assert.ok(compacted.point_blocks > 0, JSON.stringify(compacted))
  assert.equal(compacted.pruned, 0)
  firstStats = (await history('stats')).size
  assert.ok(firstStats.block_points > 0, JSON.stringify(firstStats))
  assert.ok(firstStats.plain_points > 0, JSON.stringify(firstStats))
  assert.ok(firstStats.tier_rows > 0, JSON.stringify(firstStats))
  assert.equal(firstStats.block_points, compacted.points)
  assert.equal(firstStats.block_points + firstStats.plain_points, sent.length, JSON.stringify(firstStats))
})

test('a late reading in a compacted hour is visible at once: device chart and CSV show every reading once', async () => {
  // Inside an hour that closed at least two hours ago, between two buffered readings.
  const hourStart = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR
  let late = hourStart + 7 * MINUTE + 30_123
  while (sent.some(([ts]) => ts === late)) late += 1
  await publish([[late, 55.25]])
  const stats = (await history('stats')).size
  assert.equal(stats.plain_points, firstStats.plain_points + 1, 'the late reading is a plain row')
  assert.equal(stats.block_points, firstStats.block_points)

  await assertDevicePage()
  // Not `fullPage`: a taller window would make the chart redraw while the picture is taken.
  await page.evaluate(() => window.scrollTo(0, 0))
  await chartDraws('[data-test="chart-spin"]', await page.locator('[data-test="line-chart"]').getAttribute('data-points'))
  await page.screenshot({ path: `${shots}history-compacted.png` })
})

test('the next compaction merges the late reading into its block; the chart and CSV are unchanged', async () => {
  const compacted = await history('compact', '--no-retention')
  assert.ok(compacted.points >= 1, JSON.stringify(compacted))
  const stats = (await history('stats')).size
  assert.ok(stats.block_points >= firstStats.block_points + 1, JSON.stringify(stats))
  assert.ok(stats.plain_points > 0, JSON.stringify(stats))
  assert.equal(stats.block_points + stats.plain_points, sent.length, JSON.stringify(stats))
  await assertDevicePage()
})

test('the Reports page charts the same buckets', async () => {
  await page.locator('[data-test="nav-reports"]').click()
  await page.waitForURL((url) => url.pathname === '/reports', WAIT)
  await page.locator('[data-test="report-devices"]').click()
  await page.locator('.n-base-select-menu:visible .n-base-select-option', { hasText: DEVICE_ID }).first().click()
  await page.locator('h2').click()
  await page.locator('.n-base-select-menu:visible').first().waitFor({ state: 'detached', ...WAIT })
  await page.locator('[data-test="report-metric"] .n-base-selection-label', { hasText: METRIC }).waitFor(WAIT)
  await page.locator('[data-test="range-select"] .n-base-selection-label', { hasText: 'Last 24 hours' }).waitFor(WAIT)
  const answered = page.waitForResponse((response) => response.url().includes(`/devices/${DEVICE_ID}/aggregates?`), WAIT)
  await page.locator('[data-test="report-show"]').click()
  const answer = await assertAggregates(await answered)
  await chartDraws('.page', answer.length)
})

// End to end in a real headless Chromium against the real hub (see hub.mjs): log in, add
// a device in the UI, connect it over MQTT (device.mjs), see its reading live, switch it
// (pending, then the state the device reported), open its chart, export CSV, switch the
// language. Screenshots of the main pages go to docs/screenshots/. Every wait is for a
// condition, with a generous timeout; no fixed ports.
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { launch } from './browser.mjs'
import { connectDevice } from './device.mjs'
import { ADMIN_PASSWORD, startHub } from './hub.mjs'

const WAIT = { timeout: 30_000 }
const shots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url))
mkdirSync(shots, { recursive: true })

let hub, browser, page, device, secret
const DEVICE_ID = 'hall-lamp'

async function shot(name) {
  await page.waitForLoadState('networkidle').catch(() => {})
  await page.screenshot({ path: `${shots}${name}.png`, fullPage: true })
}

before(async () => {
  hub = await startHub()
  browser = await launch()
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', acceptDownloads: true })
  page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
})

after(async () => {
  await device?.close()
  await browser?.close()
  await hub?.stop()
})

test('the committed OpenAPI copy is the hub\'s', async () => {
  const live = await (await fetch(`${hub.http}/api/openapi.json`)).json()
  const saved = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8'))
  assert.deepEqual(saved, live, 'web/openapi.json is stale: run `npm --prefix web run gen:api`')
})

test('the hub serves the app shell, assets and a deep link', async () => {
  const index = await fetch(`${hub.http}/devices/${DEVICE_ID}`)
  assert.equal(index.status, 200)
  assert.match(index.headers.get('content-type'), /text\/html/)
  const html = await index.text()
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)[1]
  const asset = await fetch(`${hub.http}${script}`)
  assert.match(asset.headers.get('content-type'), /javascript/)
  assert.match(asset.headers.get('cache-control'), /immutable/)
  const manifest = await fetch(`${hub.http}/manifest.webmanifest`)
  assert.equal(manifest.status, 200)
  const api404 = await fetch(`${hub.http}/api/v1/nowhere`)
  assert.equal((await api404.json()).error.code, 'no_route')
})

test('log in as the owner', async () => {
  await page.goto(`${hub.http}/`)
  await page.waitForURL(/\/login/, WAIT)
  await page.getByText('First start?').waitFor(WAIT)
  await shot('login')
  await page.locator('input[name="username"]').fill('admin')
  await page.locator('input[name="password"]').fill(ADMIN_PASSWORD)
  await page.locator('[data-test="login-submit"]').click()
  await page.waitForURL((url) => url.pathname === '/', WAIT)
  await page.locator('[data-test="nav-devices"]').waitFor(WAIT)
})

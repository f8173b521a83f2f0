// The link between a home hub and its cloud hub in the web app (issue 20, docs/bridge.md
// and docs/sites.md "Visible"), in a real headless Chromium against two real hubs on
// loopback: the cloud registers site home-1 and a lamp, and its admin puts the lamp in
// the site from the device's edit dialog; the home hub starts with [bridge] logging in
// as home-1 (the cloud's registry mirrored there gives it the lamp); the lamp reports
// to its home hub over MQTT. The cloud's Sites page shows the site's link (connected,
// relayed, its devices) as its API says; the home's Cloud link page shows the link up
// with the counters its API says, then, with the cloud stopped, down since when with
// the readings queued. Screenshots: docs/screenshots/sites-link.png and
// docs/screenshots/bridge-link.png. Each browser context is one hub's (cookies do not
// tell ports apart). Every wait is for a condition; no fixed ports.
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { launch } from './browser.mjs'
import { connectDevice } from './device.mjs'
import { ADMIN_PASSWORD, startHub } from './hub.mjs'

const WAIT = { timeout: 30_000 }
const shots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url))
mkdirSync(shots, { recursive: true })

const SITE = 'home-1'
const DEVICE_ID = 'hall-lamp'
const READINGS = 5

let cloud, home, browser, cloudPage, homePage, lamp, deviceSecret

/** A page logged in as the owner on `hub`, in a browser context of its own. */
async function logIn(hub) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' })
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  await page.goto(`${hub.http}/login`)
  await page.locator('input[name="username"]').fill('admin')
  await page.locator('input[name="password"]').fill(ADMIN_PASSWORD)
  await page.locator('[data-test="login-submit"]').click()
  await page.waitForURL((url) => url.pathname === '/', WAIT)
  return page
}

async function api(page, hub, method, path, data) {
  const response = await page.request.fetch(`${hub.http}/api/v1${path}`, { method, data, headers: { Origin: hub.http } })
  const text = await response.text()
  assert.ok(response.ok(), `${method} ${path}: ${response.status()} ${text}`)
  return text ? JSON.parse(text) : undefined
}

/** Asks `read()` until `done(answer)`; returns that answer. */
async function until(read, done, what) {
  const deadline = Date.now() + WAIT.timeout
  for (;;) {
    const answer = await read()
    if (done(answer)) return answer
    assert.ok(Date.now() < deadline, `${what}: ${JSON.stringify(answer)}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Waits until the element marked `test` on `page` reads exactly `text`. */
async function reads(page, test, text) {
  const locator = page.locator(`[data-test="${test}"]`)
  try {
    await locator.filter({ hasText: text }).first().waitFor(WAIT)
  } catch (error) {
    throw new Error(`${test} should read ${JSON.stringify(text)} but reads ${JSON.stringify(await locator.allTextContents())}`, { cause: error })
  }
  assert.equal((await locator.first().textContent()).trim(), text, test)
}

async function shot(page, name) {
  await page.waitForLoadState('networkidle').catch(() => {})
  await page.screenshot({ path: `${shots}${name}.png`, fullPage: true })
}

const count = (value) => value.toLocaleString('en-US')

before(async () => {
  cloud = await startHub()
  browser = await launch()
  cloudPage = await logIn(cloud)
})

after(async () => {
  await lamp?.close().catch(() => {})
  await browser?.close()
  await home?.stop()
  await cloud?.stop()
})

test('the cloud\'s admin puts a device in a site from its edit dialog', async () => {
  const site = await api(cloudPage, cloud, 'POST', '/sites', { id: SITE, group: 'home', name: 'Our flat' })
  const device = await api(cloudPage, cloud, 'POST', '/devices', { id: DEVICE_ID, app: 'default', name: 'Hall lamp', kind: 'light' })
  deviceSecret = device.secret
  await cloudPage.goto(`${cloud.http}/devices/${DEVICE_ID}`)
  await cloudPage.locator('[data-test="edit-device"]').click()
  await cloudPage.locator('[data-test="edit-site-select"]').click()
  await cloudPage.locator('.n-base-select-option', { hasText: SITE }).first().click()
  await cloudPage.locator('[data-test="edit-device-submit"]').click()
  await reads(cloudPage, 'device-site', SITE)
  assert.equal((await api(cloudPage, cloud, 'GET', `/devices/${DEVICE_ID}`)).site, SITE)
  assert.deepEqual((await api(cloudPage, cloud, 'GET', `/sites/${SITE}`)).devices, [DEVICE_ID])

  // The home hub links to the cloud as the site.
  home = await startHub({
    config: `[bridge]\nurl = "${cloud.mqtt}"\nsite = "${SITE}"\nsecret = "${site.secret}"\nreconnect_min_ms = 100\nreconnect_max_ms = 1000\n`,
  })
  homePage = await logIn(home)
})

test('the lamp reports at home and the cloud\'s Sites page shows the link as its API says', async () => {
  // The cloud's registry, mirrored at home, brings the lamp with its secret.
  await until(() => homePage.request.get(`${home.http}/api/v1/devices/${DEVICE_ID}`), (response) => response.ok(), 'the lamp at home')
  lamp = await until(
    () => connectDevice(home.mqtt, DEVICE_ID, deviceSecret).catch(() => null),
    (client) => client !== null,
    'the lamp logs in at home',
  )
  for (let n = 0; n < READINGS; n++) await lamp.publish({ power: 10 + n })
  // Everything the home queued is acknowledged by the cloud, and the cloud counted it.
  const status = await until(
    () => api(homePage, home, 'GET', '/bridge'),
    (answer) => answer.up && answer.queued_messages === 0 && answer.acked_total >= READINGS,
    'the home sent the readings',
  )
  const site = await until(
    () => api(cloudPage, cloud, 'GET', `/sites/${SITE}`),
    (answer) => answer.link?.connected && answer.link.messages_total >= status.acked_total,
    'the cloud relayed them',
  )
  assert.ok(site.link.since_ms > 0 && site.link.last_message_ms > 0 && site.link.lag_ms >= 0, JSON.stringify(site.link))
  // Stored in the cloud at the home's time stamps, each once.
  const points = await api(cloudPage, cloud, 'GET', `/devices/${DEVICE_ID}/points?metric=power&from=0&to=${Date.now() + 60_000}`)
  assert.deepEqual(points.map((point) => point.value).sort(), [10, 11, 12, 13, 14])

  await cloudPage.goto(`${cloud.http}/sites`)
  await reads(cloudPage, `site-relayed-${SITE}`, count(site.link.messages_total))
  assert.match(await cloudPage.locator(`[data-test="site-link-${SITE}"]`).textContent(), /^Connected\s*since (just now|\d+ seconds? ago)$/)
  assert.equal((await cloudPage.locator(`[data-test="site-devices-${SITE}"]`).textContent()).trim(), `${site.devices.length} · ${site.devices.join(', ')}`)
  assert.notEqual((await cloudPage.locator(`[data-test="site-last-${SITE}"]`).textContent()).trim(), 'never')
  assert.match(await cloudPage.locator(`[data-test="site-lag-${SITE}"]`).textContent(), /\d+(\.\d)? (sec|min)/)
  await shot(cloudPage, 'sites-link')

  // /metrics says the same.
  const metrics = await (await fetch(`${cloud.http}/metrics`)).text()
  assert.match(metrics, new RegExp(`^hearth_site_link_up\\{site="${SITE}"\\} 1$`, 'm'))
  assert.match(metrics, new RegExp(`^hearth_site_messages_total\\{site="${SITE}"\\} ${site.link.messages_total}$`, 'm'))
  assert.match(metrics, new RegExp(`^hearth_site_lag_seconds\\{site="${SITE}"\\} [0-9.]+$`, 'm'))
})

test('the home\'s Cloud link page shows the link up, then down with the readings queued', async () => {
  const status = await api(homePage, home, 'GET', '/bridge')
  await homePage.goto(`${home.http}/`)
  await homePage.locator('[data-test="nav-link"]').first().click()
  await homePage.waitForURL((url) => url.pathname === '/link', WAIT)
  await reads(homePage, 'bridge-state', 'Up')
  await reads(homePage, 'bridge-value-acked', count(status.acked_total))
  await reads(homePage, 'bridge-queued', `0 of ${count(status.queue_max_messages)}`)
  assert.equal((await homePage.locator('[data-test="bridge-site"]').textContent()).trim(), SITE)
  assert.equal((await homePage.locator('[data-test="bridge-url"]').textContent()).trim(), status.url)
  assert.match(await homePage.locator('[data-test="bridge-last-sync"]').textContent(), /ago|just now/)
  assert.equal(await homePage.locator('[data-test="bridge-down-since"]').count(), 0)

  // The cloud goes away: the home keeps acknowledging the lamp and queues its readings.
  await cloud.stop()
  cloud = undefined
  await until(() => api(homePage, home, 'GET', '/bridge'), (answer) => !answer.up, 'the link is down')
  for (let n = 0; n < 3; n++) await lamp.publish({ power: 20 + n })
  const down = await until(
    () => api(homePage, home, 'GET', '/bridge'),
    (answer) => !answer.up && answer.queued_messages >= 3,
    'the readings are queued',
  )
  assert.ok(down.down_since_ms > 0)
  await reads(homePage, 'bridge-state', 'Down')
  await reads(homePage, 'bridge-queued', `${count(down.queued_messages)} of ${count(down.queue_max_messages)}`)
  await reads(homePage, 'bridge-value-queued', count(down.queued_total))
  assert.match(await homePage.locator('[data-test="bridge-down-since"]').textContent(), /^down since (just now|\d+ seconds? ago) \(/)
  await shot(homePage, 'bridge-link')

  const metrics = await (await fetch(`${home.http}/metrics`)).text()
  assert.match(metrics, /^hearth_bridge_up 0$/m)
  assert.match(metrics, new RegExp(`^hearth_bridge_queued_messages ${down.queued_messages}$`, 'm'))
})

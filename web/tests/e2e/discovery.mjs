// Home Assistant discovery in the web app (issue 18), in a real headless Chromium against
// the real hub: a discovery application is made on the Applications page; a Tasmota plug,
// played by a real mqtt.js client logging in with that application's key and secret
// (tasmota.mjs), publishes its retained discovery configs exactly as Tasmota does
// (SetOption19 1) and its LWT, and answers `cmnd/<topic>/POWER` on its state topic as
// Tasmota does. The plug appears on the Discovered page (and as the navigation's count),
// is adopted there into another application of the group with a new id, name and room,
// shows on Home, and is switched from its card: the command reaches the client as `ON` on
// Tasmota's command topic, the client's answer acknowledges it, and the card shows it on
// (Tasmota's word "ON" read as true through the layout's map). On a 390 px phone the page
// is in the menu; another announced device is forgotten there; a member sees neither the
// link nor the list. Screenshots: docs/screenshots/discovered.png and
// discovered-phone-zh-CN.png. Every wait is for a condition; no fixed ports.
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { launch } from './browser.mjs'
import { ADMIN_PASSWORD, startHub } from './hub.mjs'
import { TASMOTA_PLUG, connectTasmota } from './tasmota.mjs'

const WAIT = { timeout: 30_000 }
const shots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url))
mkdirSync(shots, { recursive: true })

const ADOPTED_ID = 'desk-plug'
let hub, browser, page, plug, discoveryId, key, secret

async function api(method, path, data) {
  // Origin: as the browser sends it (the hub refuses cookie-authenticated changes without it).
  const response = await page.request.fetch(`${hub.http}/api/v1${path}`, { method, data, headers: { Origin: hub.http } })
  const text = await response.text()
  assert.ok(response.ok(), `${method} ${path}: ${response.status()} ${text}`)
  return text ? JSON.parse(text) : undefined
}

/** Picks `label` in the Naive UI select marked `data-test=test`. */
async function choose(target, test, label) {
  await target.locator(`[data-test="${test}"]`).click()
  await target.locator('.n-base-select-menu:visible .n-base-select-option', { hasText: label }).first().click()
  await target.locator('.n-base-select-menu:visible').first().waitFor({ state: 'detached', ...WAIT })
}

before(async () => {
  hub = await startHub()
  browser = await launch()
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })
  page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  await page.goto(`${hub.http}/login`)
  await page.locator('input[name="username"]').fill('admin')
  await page.locator('input[name="password"]').fill(ADMIN_PASSWORD)
  await page.locator('[data-test="login-submit"]').click()
  await page.waitForURL((url) => url.pathname === '/', WAIT)
})

after(async () => {
  await plug?.close()
  await browser?.close()
  await hub?.stop()
})

test('a Tasmota plug announced through a discovery application is listed on the Discovered page', async () => {
  // The discovery login (what the plug's MQTT settings hold), made on the Applications
  // page; its key and secret are read from the dialog that shows them once.
  await page.locator('[data-test="nav-apps"]').click()
  await page.locator('input[name="app-id"]').fill('tasmota')
  await page.locator('input[name="app-name"]').fill('Tasmota devices')
  await page.locator('[data-test="app-discovery"]').click()
  await page.locator('[data-test="app-create"]').click()
  const secretDialog = page.locator('[data-test="app-secret-dialog"]')
  await secretDialog.locator('[data-test="app-discovery-hint"]').waitFor(WAIT)
  key = await secretDialog.locator('[data-test="app-mqtt-key"]').inputValue()
  secret = await secretDialog.locator('[data-test="app-mqtt-secret"]').inputValue()
  await secretDialog.locator('[data-test="app-secret-close"]').click()
  await page.locator('[data-test="app-discovery-tasmota"]').waitFor(WAIT)
  // The application the plug will join.
  await api('POST', '/apps', { id: 'plugs', group: 'home', name: 'Plugs' })
  plug = await connectTasmota(hub.mqtt, key, secret)

  await page.locator('[data-test="nav-discovered"]').click()
  await page.waitForURL(/\/discovered$/, WAIT)
  const card = page.locator('.discovered-card[data-app="tasmota"]')
  await card.waitFor(WAIT)
  assert.equal(await card.count(), 1, 'announced once, listed once')
  discoveryId = await card.getAttribute('data-id')
  assert.match(await card.innerText(), new RegExp(TASMOTA_PLUG.name))
  assert.match(await card.innerText(), /Tasmota/)
  assert.match(await page.locator(`[data-test="discovered-capabilities-${discoveryId}"]`).innerText(), /Switch/)
  await page.locator(`[data-test="discovered-online-${discoveryId}"][data-online="true"]`).waitFor(WAIT)
  assert.equal((await page.locator('[data-test="nav-discovered-badge"]').innerText()).trim(), '1')
  await page.waitForLoadState('networkidle').catch(() => {})
  await page.screenshot({ path: `${shots}discovered.png`, fullPage: true })

  // On a 390 px phone, in Chinese, the card fits the screen.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await page.context().storageState(), isMobile: true, hasTouch: true })
  try {
    await phone.addInitScript(() => localStorage.setItem('hearth.locale', 'zh-CN'))
    const phonePage = await phone.newPage()
    await phonePage.goto(`${hub.http}/discovered`)
    await phonePage.locator(`[data-test="discovered-adopt-${discoveryId}"]`).filter({ hasText: '接入' }).waitFor(WAIT)
    assert.ok(await phonePage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page is wider than the phone')
    await phonePage.screenshot({ path: `${shots}discovered-phone-zh-CN.png`, fullPage: true })
  } finally {
    await phone.close()
  }
})

test('another announced device is forgotten from the page', async () => {
  const other = { name: 'Kitchen plug', id: 'A1B2C3', topic: 'tasmota_A1B2C3', model: 'Generic', sw: '9.1.0(tasmota)' }
  // The login made on the page is a discovery login.
  assert.ok((await api('GET', '/apps?group=home')).some((app) => app.id === 'tasmota' && app.discovery))
  const kitchen = await connectTasmota(hub.mqtt, key, secret, other)
  try {
    const card = page.locator('.discovered-card[data-app="tasmota"]', { hasText: 'Kitchen plug' })
    await card.waitFor(WAIT)
    const id = await card.getAttribute('data-id')
    await page.locator('[data-test="nav-discovered-badge"]', { hasText: '2' }).waitFor(WAIT)
    await page.locator(`[data-test="discovered-forget-${id}"]`).click()
    await page.locator('.n-popconfirm .n-button--primary-type').click()
    await card.waitFor({ state: 'detached', ...WAIT })
    await page.locator('[data-test="nav-discovered-badge"]', { hasText: '1' }).waitFor(WAIT)
    assert.ok(!(await api('GET', '/discovered?group=home')).some((device) => device.id === id))
  } finally {
    await kitchen.close()
  }
})

test('adopted in the web app into an application, it leaves the list and shows on Home', async () => {
  await page.locator(`[data-test="discovered-adopt-${discoveryId}"]`).click()
  const dialog = page.locator('[data-test="adopt-dialog"]')
  await dialog.waitFor(WAIT)
  // Discovery logins are not offered as the device's application.
  await dialog.locator('[data-test="adopt-app"]').click()
  const options = page.locator('.n-base-select-menu:visible .n-base-select-option')
  await options.first().waitFor(WAIT)
  assert.ok(!(await options.allInnerTexts()).some((text) => text.includes('(tasmota)') || text.trim() === 'tasmota'))
  await page.keyboard.press('Escape')
  await choose(page, 'adopt-app', 'Plugs')
  await dialog.locator('input[name="adopt-id"]').fill(ADOPTED_ID)
  await dialog.locator('input[name="adopt-name"]').fill('Desk plug')
  await dialog.locator('input[name="adopt-room"]').fill('office')
  await dialog.locator('[data-test="adopt-submit"]').click()
  await dialog.waitFor({ state: 'detached', ...WAIT })
  await page.locator('[data-test="discovered-empty"]').waitFor(WAIT)
  await page.locator('[data-test="nav-discovered-badge"]').waitFor({ state: 'detached', ...WAIT })

  const device = await api('GET', `/devices/${ADOPTED_ID}`)
  assert.equal(device.application, 'plugs')
  assert.equal(device.room, 'office')
  await page.locator('[data-test="nav-home"]').click()
  await page.locator(`[data-test="device-card-${ADOPTED_ID}"]`).waitFor(WAIT)
  // Online at once: its LWT said Online before the adoption, and the new device starts
  // with the presence its discovered entry had (no new message from the plug needed).
  await page.locator(`[data-test="online-${ADOPTED_ID}"][data-online="true"]`).waitFor(WAIT)
  assert.equal((await api('GET', `/devices/${ADOPTED_ID}/live`)).is_online, true)
  // Its TelePeriod report (tele/<topic>/STATE) feeds the live state: the plug is off.
  await page.locator('.app-layout[data-live="online"]').waitFor(WAIT)
  await plug.tele()
  await page.locator(`[data-test="state-${ADOPTED_ID}"]`).filter({ hasText: 'Off' }).waitFor(WAIT)
})

test('switched from its card: ON reaches Tasmota\'s command topic, and its answer acknowledges the command', async () => {
  await page.locator(`[data-test="switch-${ADOPTED_ID}"]`).click()
  await waitUntil(() => plug.commands.length > 0)
  assert.deepEqual(plug.commands, [{ topic: `cmnd/${TASMOTA_PLUG.topic}/POWER`, payload: 'ON' }])
  assert.equal(plug.state.power, 'ON')
  // Its answer on tele/<topic>/STATE completes the command (no longer pending).
  await page.locator(`[data-test="pending-${ADOPTED_ID}"]`).waitFor({ state: 'hidden', ...WAIT })
  const [command] = await api('GET', `/devices/${ADOPTED_ID}/commands?limit=1`)
  assert.equal(command.name, 'switch')
  assert.equal(command.status, 'acked')
})

// The generated layout maps Tasmota's JSON state word ("POWER": "ON") to on = true.
test('the card shows the plug on, as it reported', async () => {
  await page.locator(`[data-test="state-${ADOPTED_ID}"]`).filter({ hasText: 'On' }).waitFor(WAIT)
  assert.equal(await page.locator(`[data-test="switch-${ADOPTED_ID}"]`).getAttribute('aria-checked'), 'true')
})

test('on a 390 px phone the Discovered page is in the menu', async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await page.context().storageState(), isMobile: true, hasTouch: true })
  try {
    const phonePage = await phone.newPage()
    await phonePage.goto(`${hub.http}/`)
    await phonePage.locator('[data-test="nav-menu-toggle"]').click()
    const menu = phonePage.locator('[data-test="nav-menu"]')
    await menu.locator('[data-test="nav-discovered"]').click()
    await phonePage.waitForURL((url) => url.pathname === '/discovered', WAIT)
    await phonePage.locator('[data-test="discovered-empty"]').waitFor(WAIT)
    assert.ok(await phonePage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page is wider than the phone')
  } finally {
    await phone.close()
  }
})

test('a member has no Discovered link, and the page says it is for admins', async () => {
  await api('POST', '/users', { name: 'bob', password: 'bob-password-123' })
  await api('PUT', '/groups/home/members/bob', { role: 'member' })
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })
  try {
    const member = await context.newPage()
    await member.goto(`${hub.http}/login`)
    await member.locator('input[name="username"]').fill('bob')
    await member.locator('input[name="password"]').fill('bob-password-123')
    await member.locator('[data-test="login-submit"]').click()
    await member.waitForURL((url) => url.pathname === '/', WAIT)
    await member.locator('[data-test="nav-devices"]').waitFor(WAIT)
    assert.equal(await member.locator('[data-test="nav-discovered"]').count(), 0)
    await member.goto(`${hub.http}/discovered`)
    await member.locator('[data-test="discovered-admins-only"]').waitFor(WAIT)
    assert.equal(await member.locator('[data-test="discovered-error"]').count(), 0)
  } finally {
    await context.close()
  }
})

/** Polls a condition (the MQTT client's side has no page to wait on). */
async function waitUntil(condition, timeoutMs = WAIT.timeout) {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${condition}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}


// Alerts end to end (issue 15) in a real headless Chromium against the real hub: the
// admin makes a smoke detector's alert rule in the form (a refused field shows on its
// item; the JSON view is the same document); a simulated detector over real MQTT reports
// smoke; the alert appears live, with the navigation's badge, in two browsers (the admin
// on the Alerts page, a member on Home, where critical alerts come first); the member
// acknowledges it and the admin's page follows without a reload; the detector's
// all-clear clears it by itself; the detail drawer shows the webhook notification (to a
// receiver started here) and its attempt; a viewer sees alerts without the buttons.
// Every wait is for a condition, with a generous timeout; no fixed ports.
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:http'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { launch } from './browser.mjs'
import { connectDevice } from './device.mjs'
import { ADMIN_PASSWORD, startHub } from './hub.mjs'

const WAIT = { timeout: 30_000 }
const shots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url))
mkdirSync(shots, { recursive: true })

let hub, browser, page, detector, receiver
const sessions = {}
/** The webhook receiver's requests: `{headers, body}`. */
const received = []
const people = { bob: ['bob-password-123', 'member'], vera: ['vera-password-123', 'viewer'] }

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

async function logIn(target, user, password) {
  await target.goto(`${hub.http}/login`)
  await target.locator('input[name="username"]').fill(user)
  await target.locator('input[name="password"]').fill(password)
  await target.locator('[data-test="login-submit"]').click()
  await target.waitForURL((url) => url.pathname === '/', WAIT)
}

/** A person's own browser (context), logged in. */
async function openBrowser(name, password, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, locale: 'en-US' })
  const personPage = await context.newPage()
  personPage.on('pageerror', (error) => console.error(`${name} page error:`, error.message))
  await logIn(personPage, name, password)
  sessions[name] = { context, page: personPage }
  return personPage
}

/**
 * The live connection is up and subscribed (so that what the hub publishes now reaches
 * the page). The offline banner's absence said nothing for a page just opened: it only
 * shows after a connection was lost.
 */
const online = (target) => target.locator('[data-live="online"]').waitFor(WAIT)
const alertItem = (target, state) => target.locator(`[data-test^="alert-al-"][data-device="smoke-1"]${state ? `[data-state="${state}"]` : ''}`)
const badge = (target) => target.locator('[data-test="nav-alerts-badge"]')

before(async () => {
  receiver = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => (body += chunk))
    request.on('end', () => {
      received.push({ headers: request.headers, body })
      response.writeHead(200).end('ok')
    })
  })
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  hub = await startHub()
  browser = await launch()
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })
  page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  await logIn(page, 'admin', ADMIN_PASSWORD)
  const created = await api('POST', '/devices', { id: 'smoke-1', app: 'default', name: 'Kitchen smoke detector', kind: 'smoke' })
  detector = await connectDevice(hub.mqtt, 'smoke-1', created.secret)
  for (const [name, [password, role]] of Object.entries(people)) {
    await api('POST', '/users', { name, password })
    await api('PUT', `/groups/home/members/${name}`, { role })
  }
  await page.reload()
})

after(async () => {
  for (const session of Object.values(sessions)) await session.context.close()
  await detector?.close()
  await browser?.close()
  await hub?.stop()
  await new Promise((resolve) => receiver?.close(resolve))
})

const hookUrl = () => `http://127.0.0.1:${receiver.address().port}/hook`
let ruleId

test('the admin makes the smoke rule in the form; a refused field shows on its item', async () => {
  await page.locator('[data-test="nav-alerts"]').click()
  await page.waitForURL(/\/alerts$/, WAIT)
  await page.locator('[data-test="alerts-tab-rules"]').click()
  await page.locator('[data-test="rule-add"]').click()
  const editor = page.locator('[data-test="rule-editor"]')
  await editor.locator('input[name="rule-name"]').fill('Smoke in the kitchen')
  await choose(page, 'rule-severity', 'Critical')
  await choose(page, 'condition-type', 'An event')
  await choose(page, 'condition-device', 'smoke-1')

  // Saved with no field to match, the hub names condition.matches; the form shows it there.
  await editor.locator('[data-test="rule-save"]').click()
  await editor.locator('[data-test="rule-error"][data-field="condition.matches"]').waitFor(WAIT)
  const item = editor.locator('[data-test="item-condition.matches"]')
  await item.locator('.n-form-item-feedback').waitFor(WAIT)
  assert.match(await item.innerText(), /at least one field/)

  await editor.locator('input[name="matches"]').fill('{"smoke": true}')
  await editor.locator('input[name="clear_matches"]').fill('{"smoke": false}')
  await editor.locator('input[name="message"]').fill('{device}: smoke!')
  await choose(page, 'add-channel', 'Webhook')
  await editor.locator('input[name="notify[1].url"]').fill(hookUrl())
  await editor.locator('input[name="notify[1].secret"]').fill('e2e-s3cret')
  await page.screenshot({ path: `${shots}alert-rule-form.png`, fullPage: true })

  const expected = {
    group: 'home', name: 'Smoke in the kitchen', enabled: true, severity: 'critical',
    condition: { type: 'event', device: 'smoke-1', matches: { smoke: true }, clear_matches: { smoke: false } },
    message: '{device}: smoke!', cooldown_secs: 900,
    notify: [{ channel: 'in_app' }, { channel: 'webhook', url: hookUrl(), secret: 'e2e-s3cret' }],
  }
  await editor.locator('[data-test="rule-tab-json"]').click()
  const json = editor.locator('[data-test="rule-json"] textarea')
  await json.waitFor(WAIT)
  assert.deepEqual(JSON.parse(await json.inputValue()), expected)
  await editor.locator('[data-test="rule-tab-form"]').click()
  await editor.locator('[data-test="condition"][data-type="event"]').waitFor(WAIT)

  await editor.locator('[data-test="rule-save"]').click()
  await editor.waitFor({ state: 'detached', ...WAIT })
  const row = page.locator('[data-test^="rule-row-"][data-name="Smoke in the kitchen"]')
  await row.waitFor(WAIT)
  ruleId = (await row.getAttribute('data-test')).replace('rule-row-', '')
  const stored = await api('GET', `/alert-rules/${ruleId}`)
  assert.deepEqual(stored.condition, expected.condition)
  assert.equal(stored.severity, 'critical')
  // The secret is never shown again, only that there is one.
  assert.deepEqual(stored.notify[1], { channel: 'webhook', url: hookUrl(), secret_set: true })
  await page.screenshot({ path: `${shots}alert-rules.png`, fullPage: true })

  // Saved again from the editor (PUT), the webhook's secret left empty stays as stored.
  await page.locator(`[data-test="rule-edit-${ruleId}"]`).click()
  await editor.locator('input[name="notify[1].secret"]').waitFor(WAIT)
  assert.match(await editor.locator('input[name="notify[1].secret"]').getAttribute('placeholder'), /leave empty to keep/)
  await editor.locator('[data-test="rule-save"]').click()
  await editor.waitFor({ state: 'detached', ...WAIT })
  const again = await api('GET', `/alert-rules/${ruleId}`)
  assert.deepEqual(again.notify, stored.notify)
  assert.ok(again.updated_at_ms >= stored.updated_at_ms)
})

let alertId

test('smoke reaches two browsers live with the badge; acknowledging in one updates the other', async () => {
  // The admin watches the Alerts page; bob, a member, is on Home.
  await page.locator('[data-test="alerts-tab-alerts"]').click()
  await page.locator('[data-test="alerts-state-open"]').click()
  await page.evaluate(() => (window.__sameDocument = true))
  const bob = await openBrowser('bob', people.bob[0])
  for (const target of [page, bob]) await online(target)
  assert.equal(await badge(page).count(), 0)

  await detector.event({ smoke: true })
  for (const target of [page, bob]) {
    await badge(target).filter({ hasText: /^1$/ }).waitFor(WAIT)
  }
  const item = alertItem(page, 'open')
  await item.waitFor(WAIT)
  alertId = (await item.getAttribute('data-test')).replace('alert-', '')
  assert.equal(await item.getAttribute('data-severity'), 'critical')
  assert.match(await item.locator('[data-test="alert-message"]').innerText(), /smoke-1: smoke!/)
  await page.screenshot({ path: `${shots}alerts.png`, fullPage: true })

  // Critical alerts come first on Home, with their buttons.
  const onHome = bob.locator('[data-test="critical-alerts"]')
  await onHome.locator(`[data-test="alert-${alertId}"]`).waitFor(WAIT)
  await bob.screenshot({ path: `${shots}home-critical-alert.png` })
  await onHome.locator(`[data-test="alert-ack-${alertId}"]`).click()

  // The admin's page follows, without a reload: out of Open, into Acknowledged, by bob.
  await alertItem(page, 'open').waitFor({ state: 'detached', ...WAIT })
  for (const target of [page, bob]) await badge(target).waitFor({ state: 'detached', ...WAIT })
  await page.locator('[data-test="alerts-state-acknowledged"]').click()
  const acknowledged = alertItem(page, 'acknowledged')
  await acknowledged.waitFor(WAIT)
  assert.match(await acknowledged.locator('[data-test="alert-acknowledged-by"]').innerText(), /acknowledged by bob/)
  assert.equal(await page.evaluate(() => window.__sameDocument), true)
  // Still active: still on bob's Home, now acknowledged.
  await onHome.locator(`[data-test="alert-${alertId}"][data-state="acknowledged"]`).waitFor(WAIT)
  const stored = await api('GET', `/alerts/${alertId}`)
  assert.equal(stored.state, 'acknowledged')
  assert.equal(stored.acknowledged_by, 'bob')
})

test('the all-clear clears it by itself; the drawer shows the webhook notification and its attempts', async () => {
  await detector.event({ smoke: false })
  await alertItem(page, 'acknowledged').waitFor({ state: 'detached', ...WAIT })
  await sessions.bob.page.locator('[data-test="critical-alerts"]').waitFor({ state: 'detached', ...WAIT })
  await page.locator('[data-test="alerts-state-cleared"]').click()
  // The history filtered by device (the hub's ?device=).
  await choose(page, 'alerts-device', 'smoke-1')
  const cleared = alertItem(page, 'cleared')
  await cleared.waitFor(WAIT)
  assert.match(await cleared.locator('[data-test="alert-cleared-by"]').innerText(), /cleared automatically/)

  // The receiver got the signed POSTs: opened, then cleared.
  for (let attempt = 0; received.length < 2; attempt++) {
    assert.ok(attempt < 300, `the webhook received ${received.length} requests`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.match(received[0].headers['x-hearth-signature'], /^sha256=[0-9a-f]{64}$/)

  await page.locator(`[data-test="alert-details-${alertId}"]`).click()
  const drawer = page.locator('[data-test="alert-detail"]')
  await drawer.waitFor(WAIT)
  await drawer.locator('[data-test="alert-detail-state"]').filter({ hasText: 'Cleared' }).waitFor(WAIT)
  const sent = drawer.locator('[data-test^="notification-"][data-state="sent"]')
  for (let attempt = 0; (await sent.count()) < 2; attempt++) {
    assert.ok(attempt < 60, 'the drawer never showed two sent notifications')
    await drawer.locator('[data-test="alert-detail-refresh"]').click()
    await sent.nth(1).waitFor({ timeout: 1_000 }).catch(() => {})
  }
  assert.equal(await sent.first().locator('[data-test="attempt-0"]').getAttribute('data-ok'), 'true')
  assert.match(await drawer.innerText(), new RegExp(hookUrl().replace(/[/.]/g, '\\$&')))
  await page.screenshot({ path: `${shots}alert-detail.png` })
  await drawer.locator('.n-drawer-header__close').click()
  await drawer.waitFor({ state: 'detached', ...WAIT })
})

test('a viewer sees the alert, without Acknowledge or Clear, and the rules read-only', async () => {
  const vera = await openBrowser('vera', people.vera[0])
  await vera.locator('[data-test="nav-alerts"]').click()
  await online(vera)
  await detector.event({ smoke: true })
  const item = alertItem(vera, 'open')
  await item.waitFor(WAIT)
  await badge(vera).filter({ hasText: /^1$/ }).waitFor(WAIT)
  assert.equal(await item.locator('[data-test^="alert-ack-"]').count(), 0)
  assert.equal(await item.locator('[data-test^="alert-clear-"]').count(), 0)
  await vera.locator('[data-test="alerts-tab-rules"]').click()
  await vera.locator('[data-test="rules-read-only"]').waitFor(WAIT)
  assert.equal(await vera.locator('[data-test="rule-add"]').count(), 0)

  // The admin clears it by hand; the viewer's page follows.
  await page.locator('[data-test="alerts-state-open"]').click()
  const open = alertItem(page, 'open')
  await open.waitFor(WAIT)
  await open.locator('[data-test^="alert-clear-"]').click()
  await item.waitFor({ state: 'detached', ...WAIT })
  await badge(vera).waitFor({ state: 'detached', ...WAIT })
})

test('in 中文 on a 390 px phone the alerts page fits the screen', async () => {
  await detector.event({ smoke: true })
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await page.context().storageState(), isMobile: true, hasTouch: true })
  await context.addInitScript(() => localStorage.setItem('hearth.locale', 'zh-CN'))
  try {
    const phone = await context.newPage()
    await phone.goto(`${hub.http}/alerts`)
    const item = alertItem(phone, 'open')
    await item.waitFor(WAIT)
    await item.locator('[data-test^="alert-ack-"]').filter({ hasText: '确认' }).waitFor(WAIT)
    await phone.locator('[data-test="menu-alerts-badge"]').filter({ hasText: /^1$/ }).waitFor(WAIT)
    assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page is wider than the phone')
    await phone.screenshot({ path: `${shots}alerts-phone-zh-CN.png` })
  } finally {
    await context.close()
  }
})

test('Profile: notification settings are saved; a bad quiet hour is named on its field', async () => {
  await page.goto(`${hub.http}/profile`)
  const card = page.locator('[data-test="notification-settings"]')
  await card.locator('[data-test="prefs-save"]').waitFor(WAIT)
  await card.locator('[data-test="prefs-quiet"]').click()
  await card.locator('input[name="quiet-start"]').fill('25:00')
  await card.locator('input[name="quiet-end"]').fill('07:00')
  await card.locator('[data-test="prefs-save"]').click()
  await card.locator('[data-test="notification-error"][data-field="quiet_hours.start"]').waitFor(WAIT)
  assert.match(await card.locator('[data-test="item-quiet_hours.start"]').innerText(), /HH:MM/)
  await card.locator('input[name="quiet-start"]').fill('22:00')
  await choose(page, 'prefs-email-severity', 'Critical and above')
  await card.locator('[data-test="prefs-save"]').click()
  // The hub's answer, not just the click: the error goes at once, the message comes with the 200.
  await page.locator('.n-message', { hasText: 'Notification settings saved' }).waitFor(WAIT)
  assert.equal(await card.locator('[data-test="notification-error"]').count(), 0)
  const prefs = await api('GET', '/profile/notifications')
  assert.deepEqual(prefs.quiet_hours, { start: '22:00', end: '07:00' })
  assert.equal(prefs.severities.email, 'critical')
  // This browser can be offered Web Push: the app's service worker is there, the hub has its key.
  const push = card.locator('[data-test="push-device"]')
  await push.and(page.locator('[data-state="off"]')).waitFor(WAIT)
  await push.locator('[data-test="push-enable"]').waitFor(WAIT)
  await page.screenshot({ path: `${shots}profile-notifications.png`, fullPage: true })
})

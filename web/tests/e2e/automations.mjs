// Automations end to end (issue 14) in a real headless Chromium against the real hub: the
// issue's example automation made in the form, fired by a simulated motion sensor over
// MQTT, the simulated lamp switched on (seen in the app) and the run's trace in the run
// history; the editor on a phone; a scene applied with one tap; two people confirming in
// two browsers before the lock gets its command (seed 004). The hub's clock is real, so
// its time zone is chosen to make it about 22:00 there now (inside the example's 20:00–06:00
// window). Every wait is for a condition, with a generous timeout; no fixed ports.
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

/** The UTC offset (±HH:MM, within -14:00..+14:00) at which it is about 22:00 now. */
function offsetForLocal22(now = new Date()) {
  let offset = (22 * 60 - (now.getUTCHours() * 60 + now.getUTCMinutes()) + 1440) % 1440
  if (offset > 840) offset -= 1440
  const sign = offset < 0 ? '-' : '+'
  const abs = Math.abs(offset)
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}

let hub, browser, page
const devices = {}
const people = { bob: 'bob-password-123', carol: 'carol-password-123' }

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

/**
 * Waits until nothing in `target` moves any more (a collapse's expand has ended). Until
 * then the content scrolls inside its growing, clipping wrapper: Playwright scrolls a
 * button into view there, and the button moves between mousedown and mouseup, so the
 * click lands beside it.
 */
async function settled(target) {
  await target.evaluate(async (element) => {
    const moving = () => element.getAnimations({ subtree: true }).filter((animation) => animation.effect?.getComputedTiming().endTime !== Infinity)
    for (let running = moving(); running.length; running = moving()) await Promise.allSettled(running.map((animation) => animation.finished))
  })
}

/** The page's live connection is up and subscribed (what the hub publishes now reaches it). */
const online = (target) => target.locator('[data-live="online"]').waitFor(WAIT)

async function logIn(target, user, password) {
  await target.goto(`${hub.http}/login`)
  await target.locator('input[name="username"]').fill(user)
  await target.locator('input[name="password"]').fill(password)
  await target.locator('[data-test="login-submit"]').click()
  await target.waitForURL((url) => url.pathname === '/', WAIT)
}

/** Adds a device in the home group and connects its simulation over MQTT. */
async function addDevice(id, kind, options) {
  const created = await api('POST', '/devices', { id, app: 'default', name: id, kind })
  devices[id] = await connectDevice(hub.mqtt, id, created.secret, options)
}

before(async () => {
  hub = await startHub({ config: `[automations]\ntime_zone = "${offsetForLocal22()}"\n` })
  browser = await launch()
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })
  page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  await logIn(page, 'admin', ADMIN_PASSWORD)
  await addDevice('hall-motion', 'sensor')
  await addDevice('hall-lamp', 'light', { reportState: true })
  await addDevice('porch-lamp', 'light', { reportState: true })
  await page.reload()
})

after(async () => {
  for (const device of Object.values(devices)) await device.close()
  await browser?.close()
  await hub?.stop()
})

const EXAMPLE = {
  group: 'home', name: 'Hall light on motion after dark', enabled: true, mode: 'single',
  triggers: [{ type: 'reading', device: 'hall-motion', metric: 'motion', eq: true }],
  conditions: [{ type: 'time', after: '20:00', before: '06:00' }],
  actions: [{ type: 'command', device: 'hall-lamp', name: 'switch', params: { on: true }, wait: true }],
}
let automationId

test('create the issue\'s example automation in the form', async () => {
  await page.locator('[data-test="nav-automations"]').click()
  await page.waitForURL(/\/automations$/, WAIT)
  await page.locator('[data-test="automation-add"]').click()
  const editor = page.locator('[data-test="automation-editor"]')
  await editor.locator('input[name="automation-name"]').fill(EXAMPLE.name)
  await choose(page, 'triggers[0]-device', 'hall-motion')
  await choose(page, 'actions[0]-device', 'hall-lamp')

  // Saved without a metric, the hub names the field; the form shows it on the trigger.
  await page.locator('[data-test="automation-save"]').click()
  await editor.locator('[data-test="triggers[0]"] [data-test="field-error"][data-field="triggers[0].metric"]').waitFor(WAIT)
  assert.match(await editor.locator('[data-test="automation-error"]').innerText(), /triggers\[0\]\.metric/)

  await editor.locator('[data-test="triggers[0]-metric"] input').fill('motion')
  await editor.locator('[data-test="triggers[0]-value"] input').fill('true')
  await choose(page, 'add-condition', 'Time of day')
  await editor.locator('[data-test="conditions[0]-after"] input').fill('20:00')
  await editor.locator('[data-test="conditions[0]-before"] input').fill('06:00')
  await editor.locator('[data-test="actions[0]-name"] input').fill('switch')
  await editor.locator('[data-test="actions[0]-params"] input').fill('{"on": true}')
  await page.screenshot({ path: `${shots}automation-form.png`, fullPage: true })

  // The JSON view is the same document; text that is not one keeps the view.
  await editor.locator('[data-test="editor-tab-json"]').click()
  const json = editor.locator('[data-test="automation-json"] textarea')
  await json.waitFor(WAIT)
  const text = await json.inputValue()
  assert.deepEqual(JSON.parse(text), EXAMPLE)
  await json.fill(`${text.slice(0, -2)}`)
  await editor.locator('[data-test="editor-tab-form"]').click()
  await editor.locator('[data-test="json-error"]').waitFor(WAIT)
  assert.ok(await json.isVisible())
  await json.fill(text)
  await editor.locator('[data-test="editor-tab-form"]').click()
  await editor.locator('[data-test="triggers[0]"]').waitFor(WAIT)
  assert.equal(await editor.locator('[data-test="triggers[0]-metric"] input').inputValue(), 'motion')

  await page.locator('[data-test="automation-save"]').click()
  await editor.waitFor({ state: 'detached', ...WAIT })
  const row = page.locator(`[data-test^="automation-row-"][data-name="${EXAMPLE.name}"]`)
  await row.waitFor(WAIT)
  automationId = (await row.getAttribute('data-test')).replace('automation-row-', '')
  const stored = await api('GET', `/automations/${automationId}`)
  assert.deepEqual(stored.triggers, EXAMPLE.triggers)
  assert.deepEqual(stored.conditions, EXAMPLE.conditions)
  assert.equal(stored.actions[0].device, 'hall-lamp')
})

test('motion after dark switches the lamp on; the app shows it, and the run\'s trace', async () => {
  const lamp = devices['hall-lamp']
  // The engine picks the new automation up from the registry; until it has, a reading
  // starts nothing, so the sensor goes quiet and moves again until the lamp is on.
  for (let attempt = 0; !lamp.state.on; attempt++) {
    await devices['hall-motion'].publish({ motion: false })
    await devices['hall-motion'].publish({ motion: true })
    for (let poll = 0; poll < 20 && !lamp.state.on; poll++) await new Promise((resolve) => setTimeout(resolve, 100))
    assert.ok(attempt < 100, 'the lamp was never switched on')
  }
  assert.deepEqual(lamp.commands.at(-1).name, 'switch')
  assert.equal(lamp.commands.at(-1).params.on, true)

  await page.locator('[data-test="nav-home"]').click()
  await page.locator('[data-test="state-hall-lamp"]').filter({ hasText: 'On' }).waitFor(WAIT)
  assert.equal(await page.locator('[data-test="switch-hall-lamp"]').getAttribute('aria-checked'), 'true')

  await page.locator('[data-test="nav-automations"]').click()
  await page.locator(`[data-test="automation-history-${automationId}"]`).click()
  const history = page.locator('[data-test="run-history"]')
  const done = history.locator('[data-test^="run-"][data-status="done"]').first()
  for (let attempt = 0; !(await done.isVisible()); attempt++) {
    assert.ok(attempt < 60, 'no finished run in the history')
    await history.locator('[data-test="runs-refresh"]').click()
    await done.waitFor({ timeout: 1_000 }).catch(() => {})
  }
  await done.locator('.n-collapse-item__header').click()
  const trace = done.locator('[data-test="run-trace"]')
  await trace.waitFor(WAIT)
  assert.match(await trace.innerText(), /reading hall-motion motion = true/)
  const condition = trace.locator('[data-test="trace-condition"]').first()
  assert.equal(await condition.getAttribute('data-passed'), 'true')
  assert.match(await condition.innerText(), /time 2[12]:\d\d/)
  const action = trace.locator('[data-test="trace-action"]').first()
  assert.equal(await action.getAttribute('data-ok'), 'true')
  assert.match(await action.innerText(), /acked[\s\S]*command hall-lamp switch/)
  await page.screenshot({ path: `${shots}automation-runs.png`, fullPage: true, animations: 'disabled' })
  await history.locator('.n-drawer-header__close').click()
  await history.waitFor({ state: 'detached', ...WAIT })
  await page.locator(`[data-test="automation-last-${automationId}"][data-status="done"]`).waitFor(WAIT)
})

test('on a 390 px phone the automation list and editor fit the screen', async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await page.context().storageState(), isMobile: true, hasTouch: true })
  try {
    const phonePage = await phone.newPage()
    await phonePage.goto(`${hub.http}/automations`)
    // The list keeps every button on screen (no horizontal scroll).
    const run = phonePage.locator(`[data-test="automation-run-${automationId}"]`)
    await run.waitFor(WAIT)
    const box = await run.boundingBox()
    assert.ok(box.x >= 0 && box.x + box.width <= 390, `Run now is off screen: ${JSON.stringify(box)}`)
    await phonePage.screenshot({ path: `${shots}automations-phone.png`, animations: 'disabled' })
    await phonePage.locator(`[data-test="automation-edit-${automationId}"]`).click()
    await phonePage.locator('[data-test="automation-editor"] [data-test="triggers[0]"]').waitFor(WAIT)
    const fits = await phonePage.evaluate(() => {
      const card = document.querySelector('[data-test="automation-editor"]').getBoundingClientRect()
      return card.left >= 0 && card.right <= window.innerWidth && document.documentElement.scrollWidth <= window.innerWidth
    })
    assert.ok(fits, 'the editor is wider than the phone')
    await phonePage.screenshot({ path: `${shots}automation-form-phone.png` })
    // Saving a stored automation sends its document back (PUT) and the hub takes it.
    await phonePage.locator('[data-test="automation-save"]').click()
    await phonePage.locator('[data-test="automation-editor"]').waitFor({ state: 'detached', ...WAIT })
    assert.deepEqual((await api('GET', `/automations/${automationId}`)).triggers, EXAMPLE.triggers)
  } finally {
    await phone.close()
  }
})

test('Run now and the secret webhook URL run an automation; its notify action shows in the app', async () => {
  const dinner = await api('POST', '/automations', {
    group: 'home', name: 'Dinner bell', triggers: [{ type: 'manual' }, { type: 'webhook' }],
    actions: [{ type: 'notify', message: 'Dinner is ready' }],
  })
  await page.locator('[data-test="nav-home"]').click()
  await page.locator('[data-test="nav-automations"]').click()
  await page.locator(`[data-test="automation-run-${dinner.id}"]`).click()
  const notification = page.locator('.n-notification', { hasText: 'Dinner is ready' })
  await notification.first().waitFor(WAIT)
  await page.screenshot({ path: `${shots}automation-notification.png`, animations: 'disabled' })

  await page.locator(`[data-test="automation-edit-${dinner.id}"]`).click()
  const editor = page.locator('[data-test="automation-editor"]')
  await editor.locator('[data-test="triggers[1]"] [data-test="webhook-make"]').click()
  const url = await editor.locator('[data-test="webhook-url"] input').inputValue()
  assert.match(url, new RegExp(`^${hub.http}/api/v1/hooks/${dinner.id}/\\S+$`))
  await editor.locator('.n-card-header__close').click()
  await editor.waitFor({ state: 'detached', ...WAIT })
  // No login: the secret in the URL is the credential.
  const fired = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"from": "doorbell"}' })
  assert.ok(fired.ok, `${fired.status} ${await fired.text()}`)
  await notification.nth(1).waitFor(WAIT)
  const runs = await api('GET', `/automations/${dinner.id}/runs`)
  assert.deepEqual(runs.map((run) => run.trigger.type).sort(), ['manual', 'webhook'])
})

test('a scene applied with one tap shows each device\'s answer', async () => {
  await page.locator('[data-test="nav-scenes"]').click()
  await page.locator('[data-test="scene-add"]').click()
  const editor = page.locator('[data-test="scene-editor"]')
  await editor.locator('input[name="scene-name"]').fill('Evening')
  await choose(page, 'targets[0]-device', 'hall-lamp')
  await editor.locator('[data-test="targets[0]-params"] input').fill('{"on": false}')
  await editor.locator('[data-test="scene-add-target"]').click()
  await choose(page, 'targets[1]-device', 'porch-lamp')
  await editor.locator('[data-test="targets[1]-params"] input').fill('{"on": true}')
  await page.locator('[data-test="scene-save"]').click()
  await editor.waitFor({ state: 'detached', ...WAIT })
  const card = page.locator('[data-test^="scene-"][data-name="Evening"]')
  await card.waitFor(WAIT)
  await card.locator('[data-test^="scene-apply-"]').click()
  await card.locator('[data-test="scene-result"]').filter({ hasText: '2/2 confirmed' }).waitFor(WAIT)
  for (const device of ['hall-lamp', 'porch-lamp']) {
    assert.equal(await card.locator(`[data-test="scene-device-${device}"]`).getAttribute('data-status'), 'acked')
  }
  assert.equal(devices['hall-lamp'].state.on, false)
  assert.equal(devices['porch-lamp'].state.on, true)
  await page.screenshot({ path: `${shots}scenes.png`, fullPage: true })
})

test('two people confirm in their browsers; then the lock opens', async () => {  await addDevice('front-door', 'lock', { accepts: ['unlock'] })
  for (const [name, password] of Object.entries(people)) {
    await api('POST', '/users', { name, password })
    await api('PUT', `/groups/home/members/${name}`, { role: 'member' })
  }
  const gate = await api('POST', '/automations', {
    group: 'home', name: 'Open the front door',
    triggers: [{ type: 'manual' }],
    actions: [
      { type: 'confirm', people: 2, within_secs: 600, prompt: 'Open the front door?' },
      { type: 'command', device: 'front-door', name: 'unlock', params: {} },
    ],
  })
  const sessions = []
  for (const [name, password] of Object.entries(people)) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' })
    const personPage = await context.newPage()
    await logIn(personPage, name, password)
    sessions.push({ name, context, page: personPage })
  }
  try {
    // Each browser has its live connection before the request is made.
    for (const session of sessions) await online(session.page)
    await api('POST', `/automations/${gate.id}/run`)
    const prompt = (session) => session.page.locator('[data-test^="confirmation-"][data-state]').filter({ hasText: 'Open the front door?' })
    for (const session of sessions) await prompt(session).locator('[data-test="confirmation-confirm"]').waitFor(WAIT)
    await prompt(sessions[0]).locator('[data-test="confirmation-confirm"]').click()
    await prompt(sessions[1]).locator('[data-test="confirmation-progress"]').filter({ hasText: '1/2 confirmed (bob)' }).waitFor(WAIT)
    await sessions[1].page.screenshot({ path: `${shots}confirmation.png` })
    assert.equal(devices['front-door'].commands.length, 0)
    await prompt(sessions[1]).locator('[data-test="confirmation-confirm"]').click()
    for (const session of sessions) await prompt(session).and(session.page.locator('[data-state="confirmed"]')).waitFor(WAIT)
    for (let attempt = 0; !devices['front-door'].commands.length; attempt++) {
      assert.ok(attempt < 300, 'the lock never received its command')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.equal(devices['front-door'].commands[0].name, 'unlock')

    // A member reads the group's automations but changes none (the hub would answer 403).
    const member = sessions[0].page
    await member.locator('[data-test="nav-automations"]').click()
    await member.locator('[data-test="automations-read-only"]').waitFor(WAIT)
    await member.locator(`[data-test="automation-history-${gate.id}"]`).waitFor(WAIT)
    assert.equal(await member.locator('[data-test="automation-add"]').count(), 0)
    assert.equal(await member.locator(`[data-test="automation-run-${gate.id}"]`).count(), 0)
  } finally {
    for (const session of sessions) await session.context.close()
  }
})

test('an admin sets the group\'s time zone and location on the Automations page', async () => {
  await page.locator('[data-test="nav-automations"]').click()
  // The group's place has come (the fields are disabled until then) and the card has
  // opened to its full height.
  const place = page.locator('[data-test="group-place"][data-state="ready"]')
  await place.locator('.n-collapse-item__header').click()
  await place.locator('input[name="time-zone"]').waitFor(WAIT)
  await settled(place)
  await place.locator('input[name="time-zone"]').fill('Asia/Shanghai')
  await place.locator('[data-test="place-save"]').click()
  await place.getByText('Saved').waitFor(WAIT)
  assert.equal((await api('GET', '/groups/home/place')).time_zone, 'Asia/Shanghai')
  // A zone the hub does not know is refused with its words.
  await place.locator('input[name="time-zone"]').fill('Mars/Olympus')
  await place.locator('[data-test="place-save"]').click()
  await place.locator('.n-alert').filter({ hasText: 'time_zone' }).waitFor(WAIT)
})

// Capabilities end to end (issue 18) in a real headless Chromium against the real hub: a
// dimmer (kind `light`, capabilities implied) whose slider sets brightness 40 %, shown as
// pending until the device (a real MQTT client, mqtt.js) confirms it and only then as its
// brightness; a lock declared by the device itself (retained `devices/{id}/capabilities`,
// registry kind `sensor`) whose unlock asks for confirmation first; a thermostat declared
// in metadata, a colour light and a blind for the screenshot (docs/screenshots/
// capabilities-home.png). Every wait is for a condition, with a generous timeout; no
// fixed ports.
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { launch } from './browser.mjs'
import { ADMIN_PASSWORD, startHub } from './hub.mjs'

const WAIT = { timeout: 30_000 }
const shots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url))
mkdirSync(shots, { recursive: true })

let hub, browser, page
const devices = {}

async function api(method, path, data) {
  // Origin: as the browser sends it (the hub refuses cookie-authenticated changes without it).
  const response = await page.request.fetch(`${hub.http}/api/v1${path}`, { method, data, headers: { Origin: hub.http } })
  const text = await response.text()
  assert.ok(response.ok(), `${method} ${path}: ${response.status()} ${text}`)
  return text ? JSON.parse(text) : undefined
}

/** How a device of the vocabulary changes its state on a command (docs/capabilities.md). */
function applyCommand(state, name, params) {
  switch (name) {
    case 'switch': state.on = params.on; break
    case 'brightness': state.brightness = params.brightness; state.on = params.brightness > 0; break
    case 'color':
      if (params.color_temp_k !== undefined) state.color_temp_k = params.color_temp_k
      else state.color = { r: params.r, g: params.g, b: params.b }
      break
    case 'setpoint': state.setpoint = params.setpoint; break
    case 'mode': state.mode = params.mode; break
    case 'position': state.position = params.position; break
    case 'open': state.position = 100; break
    case 'close': state.position = 0; break
    case 'stop': break
    case 'lock': state.locked = true; break
    case 'unlock': state.locked = false; break
    default: return false
  }
  return true
}

/**
 * A device over real MQTT: logs in with its id and secret, may declare its capabilities
 * (retained), reports `state` as data, and answers each command with an ack carrying its
 * new state, then reports it as data, as firmware would. While held, answers wait.
 */
async function connectDevice(id, secret, state, capabilities) {
  const commands = []
  let release = null
  let held = Promise.resolve()
  const client = await mqtt.connectAsync(hub.mqtt, {
    clientId: id, username: id, password: secret, reconnectPeriod: 0,
    will: { topic: `devices/${id}/status`, payload: 'offline', qos: 1, retain: true },
  })
  await client.subscribeAsync(`devices/${id}/commands/#`, { qos: 1 })
  client.on('message', (topic, payload) => {
    const match = new RegExp(`^devices/${id}/commands/([^/]+)$`).exec(topic)
    if (!match) return
    const { id: commandId, ...params } = JSON.parse(payload.toString())
    commands.push({ name: match[1], params })
    void held.then(async () => {
      const ok = applyCommand(state, match[1], params)
      await client.publishAsync(`${topic}/ack`, JSON.stringify({ id: commandId, ok, state }), { qos: 1 })
      await client.publishAsync(`devices/${id}/data`, JSON.stringify(state), { qos: 1 })
    })
  })
  await client.publishAsync(`devices/${id}/status`, 'online', { qos: 1, retain: true })
  if (capabilities) await client.publishAsync(`devices/${id}/capabilities`, JSON.stringify(capabilities), { qos: 1, retain: true })
  await client.publishAsync(`devices/${id}/data`, JSON.stringify(state), { qos: 1 })
  return {
    state,
    commands,
    hold() {
      held = new Promise((resolve) => (release = resolve))
    },
    release: () => release?.(),
    close: () => client.endAsync(),
  }
}

async function addDevice(id, { kind, name, room, metadata, state, capabilities }) {
  const created = await api('POST', '/devices', { id, app: 'default', name, kind, room, metadata })
  devices[id] = await connectDevice(id, created.secret, state, capabilities)
}

before(async () => {
  hub = await startHub()
  browser = await launch()
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, locale: 'en-US' })
  page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  await page.goto(`${hub.http}/login`)
  await page.locator('input[name="username"]').fill('admin')
  await page.locator('input[name="password"]').fill(ADMIN_PASSWORD)
  await page.locator('[data-test="login-submit"]').click()
  await page.waitForURL((url) => url.pathname === '/', WAIT)

  await addDevice('bedroom-lamp', { kind: 'light', name: 'Bedroom lamp', room: 'Bedroom', state: { on: true, brightness: 80 } })
  await addDevice('front-door', {
    kind: 'sensor', name: 'Front door', room: 'Hallway', state: { locked: true, battery: 87, door: false },
    capabilities: [
      { type: 'lock' },
      { type: 'binary_sensor', key: 'door', device_class: 'door' },
      { type: 'sensor', key: 'battery', unit: '%', device_class: 'battery' },
    ],
  })
  await addDevice('living-thermostat', {
    kind: 'thermostat', name: 'Living room thermostat', room: 'Living room',
    metadata: { capabilities: [{ type: 'thermostat', min: 10, max: 28, step: 0.5, modes: ['heat', 'auto', 'off'] }] },
    state: { temperature: 20.4, setpoint: 21, mode: 'heat' },
  })
  await addDevice('living-bulb', {
    kind: 'light', name: 'Colour bulb', room: 'Living room', state: { on: true, brightness: 60, color: { r: 255, g: 120, b: 40 }, color_temp_k: 2700, power_w: 7.5 },
    capabilities: [{ type: 'switch' }, { type: 'dimmer' }, { type: 'color', modes: ['rgb', 'temp'] }, { type: 'sensor', key: 'power_w', unit: 'W', device_class: 'power' }],
  })
  await addDevice('bedroom-blinds', { kind: 'cover', name: 'Bedroom blinds', room: 'Bedroom', state: { position: 100 } })
  await page.reload()
})

after(async () => {
  for (const device of Object.values(devices)) await device.close()
  await browser?.close()
  await hub?.stop()
})

test('a dimmer\'s slider sets brightness 40 %, shown once the device confirms it', async () => {
  const value = page.locator('[data-test="value-bedroom-lamp-brightness"]')
  await value.filter({ hasText: '80 %' }).waitFor(WAIT)
  // The page's live connection is up (the device's retained declaration reached it), so the
  // device's answer will too.
  await page.locator('[data-test="control-front-door-lock"]').waitFor(WAIT)

  const lamp = devices['bedroom-lamp']
  lamp.hold()
  const slider = page.locator('[data-test="slider-bedroom-lamp-brightness"]')
  const handles = await slider.locator('.n-slider-handles').boundingBox()
  const rail = await slider.locator('.n-slider-rail').boundingBox()
  await page.mouse.click(handles.x + handles.width * 0.4, rail.y + rail.height / 2)

  const pending = page.locator('[data-test="pending-bedroom-lamp-brightness"]')
  await pending.filter({ hasText: '40 %' }).waitFor(WAIT)
  assert.equal((await value.textContent()).trim(), '80 %', 'not shown as the brightness before the device confirms')
  await page.locator('[data-test="device-card-bedroom-lamp"]').screenshot({ path: `${shots}capabilities-pending.png` })
  await waitUntil(() => lamp.commands.some((command) => command.name === 'brightness'))
  assert.deepEqual(lamp.commands.at(-1), { name: 'brightness', params: { brightness: 40 } })
  assert.equal(lamp.state.brightness, 80, 'the device has not answered yet')

  lamp.release()
  await value.filter({ hasText: '40 %' }).waitFor(WAIT)
  await pending.waitFor({ state: 'hidden', ...WAIT })
  assert.equal(lamp.state.brightness, 40)
})

test('a lock declared by the device asks before unlocking', async () => {
  const door = devices['front-door']
  const state = page.locator('[data-test="value-front-door-locked"]')
  await state.filter({ hasText: 'Locked' }).waitFor(WAIT)
  await page.locator('[data-test="reading-front-door-battery"]').filter({ hasText: '87 %' }).waitFor(WAIT)
  await page.locator('[data-test="reading-front-door-door"]').filter({ hasText: 'Closed' }).waitFor(WAIT)

  await page.locator('[data-test="unlock-front-door"]').click()
  const confirm = page.locator('[data-test="unlock-confirm-front-door"]')
  await confirm.waitFor(WAIT)
  await page.getByText('Unlock Front door?').waitFor(WAIT)
  await page.evaluate(() => Promise.allSettled(document.getAnimations().map((animation) => animation.finished)))
  await page.screenshot({ path: `${shots}capabilities-unlock-confirm.png` })
  await page.locator('[data-test="unlock-cancel-front-door"]').click()
  await confirm.waitFor({ state: 'hidden', ...WAIT })
  assert.deepEqual(door.commands, [], 'cancelled: nothing sent')

  await page.locator('[data-test="unlock-front-door"]').click()
  await confirm.click()
  await state.filter({ hasText: 'Unlocked' }).waitFor(WAIT)
  assert.deepEqual(door.commands, [{ name: 'unlock', params: {} }])
  assert.equal(door.state.locked, false)
})

test('every control on Home: thermostat setpoint and mode, colour, cover (screenshot)', async () => {
  await page.locator('[data-test="value-living-thermostat-setpoint"]').filter({ hasText: '21 °C' }).waitFor(WAIT)
  await page.locator('[data-test="mode-living-thermostat"]').waitFor(WAIT)
  await page.locator('[data-test="value-living-bulb-color"][data-color="#ff7828"]').waitFor(WAIT)
  await page.locator('[data-test="reading-living-bulb-power_w"]').filter({ hasText: '7.5 W' }).waitFor(WAIT)

  // The thermostat's + steps the setpoint by its declared 0.5; its mode comes from the metadata's list.
  const thermostat = devices['living-thermostat']
  await page.locator('[data-test="setpoint-living-thermostat"] button').last().click()
  await page.locator('[data-test="value-living-thermostat-setpoint"]').filter({ hasText: '21.5 °C' }).waitFor(WAIT)
  assert.deepEqual(thermostat.commands, [{ name: 'setpoint', params: { setpoint: 21.5 } }])
  await page.locator('[data-test="mode-living-thermostat"]').click()
  await page.locator('.n-base-select-menu:visible .n-base-select-option', { hasText: 'Off' }).first().click()
  await page.locator('[data-test="value-living-thermostat-mode"]').filter({ hasText: 'Off' }).waitFor(WAIT)
  assert.deepEqual(thermostat.commands.at(-1), { name: 'mode', params: { mode: 'off' } })

  await page.locator('[data-test="cover-close-bedroom-blinds"]').click()
  await page.locator('[data-test="value-bedroom-blinds-position"]').filter({ hasText: /^0 %$/ }).waitFor(WAIT)
  assert.deepEqual(devices['bedroom-blinds'].commands, [{ name: 'close', params: {} }])

  await page.waitForLoadState('networkidle').catch(() => {})
  await page.screenshot({ path: `${shots}capabilities-home.png`, fullPage: true })
})

async function waitUntil(check, timeoutMs = WAIT.timeout) {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('gave up waiting')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

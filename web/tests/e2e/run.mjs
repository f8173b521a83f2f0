// End to end in a real headless Chromium against the real hub (see hub.mjs): log in, add
// a device in the UI, connect it over MQTT (device.mjs), see its reading live, switch it
// (pending, then the state the device reported), open its chart, export CSV, switch the
// language; manage groups, members, applications and grants, edit a device and read the
// audit log; on a 390 px phone, in English and Chinese, reach every page through the menu
// with every label on one line. Screenshots of the main pages go to docs/screenshots/.
// Every wait is for a condition, with a generous timeout; no fixed ports.
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
const network = { down: false, sockets: [] }
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
  // The app's MQTT WebSocket goes through Playwright, so that a test can cut it.
  await page.routeWebSocket(/\/mqtt$/, (socket) => {
    if (network.down) {
      socket.close({ code: 1006 })
      return
    }
    network.sockets.push(socket)
    socket.connectToServer()
  })
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
  // Registration is closed on this hub: the register page shows the hub's answer.
  await page.locator('[data-test="register-link"]').click()
  await page.locator('input[name="username"]').fill('carol')
  await page.locator('input[name="password"]').fill('carol-password-123')
  await page.locator('[data-test="register-submit"]').click()
  await page.locator('[data-test="register-error"]').filter({ hasText: /registration is (closed|by invitation)/ }).waitFor(WAIT)
  await page.getByText('Have an account? Log in').click()
  await page.waitForURL(/\/login/, WAIT)
  await page.locator('input[name="username"]').fill('admin')
  await page.locator('input[name="password"]').fill(ADMIN_PASSWORD)
  await page.locator('[data-test="login-submit"]').click()
  await page.waitForURL((url) => url.pathname === '/', WAIT)
  await page.locator('[data-test="nav-devices"]').waitFor(WAIT)
})

/** Picks `label` in the Naive UI select marked `data-test=test`. */
async function choose(test, label) {
  await page.locator(`[data-test="${test}"]`).click()
  await page.locator('.n-base-select-option', { hasText: label }).first().click()
}

/**
 * The navigation links on show (`a[data-test=nav-…]`), each with how many lines its text takes
 * and its height against the height of one of its glyphs: a label squeezed letter by letter
 * (设/备) takes two lines and is twice as tall.
 */
async function navLabels(target) {
  return target.locator('a[data-test^="nav-"]').evaluateAll((links) => links
    .filter((link) => link.getClientRects().length > 0)
    .map((link) => {
      const text = link.firstChild?.nodeType === Node.TEXT_NODE ? link.firstChild : link
      const glyph = document.createRange()
      glyph.setStart(text, 0)
      glyph.setEnd(text, 1)
      const whole = document.createRange()
      whole.selectNodeContents(link)
      const boxes = [...whole.getClientRects()].filter((box) => box.width > 0 && box.height > 0)
      const top = Math.min(...boxes.map((box) => box.top))
      const bottom = Math.max(...boxes.map((box) => box.bottom))
      return {
        label: link.textContent.trim(),
        lines: new Set(boxes.map((box) => Math.round(box.top))).size,
        height: bottom - top,
        lineHeight: glyph.getBoundingClientRect().height,
        right: Math.max(...boxes.map((box) => box.right)),
      }
    }))
}

/** Every navigation label on show sits on one line, inside the window. */
async function assertNavLabelsOnOneLine(target, atLeast) {
  const labels = await navLabels(target)
  const width = await target.evaluate(() => window.innerWidth)
  assert.ok(labels.length >= atLeast, `expected ${atLeast} navigation labels, saw ${JSON.stringify(labels)}`)
  for (const label of labels) {
    assert.equal(label.lines, 1, `"${label.label}" wraps: ${JSON.stringify(label)}`)
    assert.ok(label.height <= label.lineHeight * 1.2, `"${label.label}" is taller than one line: ${JSON.stringify(label)}`)
    assert.ok(label.right <= width, `"${label.label}" ends outside the ${width} px window: ${JSON.stringify(label)}`)
  }
}

test('add a device in the UI; its secret is shown once with a mosquitto_pub example', async () => {
  await page.locator('[data-test="nav-devices"]').click()
  await page.locator('[data-test="add-device"]').click()
  const dialog = page.locator('[data-test="add-device-dialog"]')
  await dialog.locator('input[name="id"]').fill(DEVICE_ID)
  await dialog.locator('input[name="name"]').fill('Hall lamp')
  await dialog.locator('input[name="room"]').fill('hall')
  await choose('kind-select', 'Light')
  await dialog.locator('.n-base-selection-label', { hasText: 'default' }).waitFor(WAIT)
  await page.locator('[data-test="add-device-submit"]').click()
  const secretInput = page.locator('[data-test="secret-dialog"] input[data-test="device-secret"]')
  await secretInput.waitFor(WAIT)
  secret = await secretInput.inputValue()
  assert.match(secret, /^\S{16,}$/)
  assert.match(await page.locator('[data-test="mosquitto-example"]').innerText(), new RegExp(`-i ${DEVICE_ID} -u ${DEVICE_ID} -P '${secret}'`))
  await shot('device-secret')
  await page.locator('[data-test="secret-close"]').click()
  await page.locator('[data-test="device-table"]').getByText(DEVICE_ID).waitFor(WAIT)
})

test('a device connected over MQTT shows up live on Home', async () => {
  device = await connectDevice(hub.mqtt, DEVICE_ID, secret)
  await page.locator('[data-test="nav-home"]').click()
  await page.locator(`[data-test="online-${DEVICE_ID}"][data-online="true"]`).waitFor(WAIT)
  // The app subscribes once it knows the device; publish until the reading appears.
  const reading = page.locator(`[data-test="reading-${DEVICE_ID}-temperature"]`)
  for (let attempt = 0; ; attempt++) {
    await device.publish({ temperature: 21.5, humidity: 40 })
    try {
      await reading.filter({ hasText: '21.5' }).waitFor({ timeout: 2_000 })
      break
    } catch (error) {
      if (attempt > 30) throw error
    }
  }
  await device.publish({ temperature: 22.25, humidity: 41 })
  await reading.filter({ hasText: '22.25' }).waitFor(WAIT)
  await shot('home')
})

test('switching shows pending until the device confirms, then its reported state', async () => {
  device.hold()
  await page.locator(`[data-test="switch-${DEVICE_ID}"]`).click()
  await page.locator(`[data-test="pending-${DEVICE_ID}"]`).waitFor(WAIT)
  await shot('home-pending')
  device.release()
  await page.locator(`[data-test="state-${DEVICE_ID}"]`).filter({ hasText: 'On' }).waitFor(WAIT)
  await page.locator(`[data-test="pending-${DEVICE_ID}"]`).waitFor({ state: 'hidden', ...WAIT })
  assert.equal(device.state.on, true)
  assert.equal(await page.locator(`[data-test="switch-${DEVICE_ID}"]`).getAttribute('aria-checked'), 'true')
})

test('the device page charts a metric, logs the command and exports CSV', async () => {
  await device.publish({ temperature: 20.5, pressure: 1013 })
  for (const temperature of [21, 23.5]) await device.publish({ temperature })
  await page.locator(`[data-test="device-card-${DEVICE_ID}"] a`).first().click()
  await page.waitForURL(new RegExp(`/devices/${DEVICE_ID}$`), WAIT)
  await page.locator('[data-test="line-chart"] canvas').first().waitFor(WAIT)
  // One reading draws no chart: the panel says so, and its spinner stops.
  await choose('metric-select', 'pressure')
  await page.locator('[data-test="chart-empty"]').filter({ hasText: 'Only one reading so far' }).waitFor(WAIT)
  await page.locator('[data-test="chart-spin"][data-loading="false"]').waitFor(WAIT)
  assert.equal(await page.locator('[data-test="line-chart"]').count(), 0)
  await choose('metric-select', 'temperature')
  await page.locator('[data-test="line-chart"] canvas').first().waitFor(WAIT)
  await page.locator('[data-test="command-log"] [data-test="command-status-acked"]').first().waitFor(WAIT)
  await shot('device')
  const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.locator('[data-test="export-csv"]').click()])
  const csv = readFileSync(await download.path(), 'utf8')
  const lines = csv.trim().split('\n')
  assert.equal(lines[0], 'time_ms,metric,value')
  assert.ok(lines.some((line) => /,"?humidity"?,41$/.test(line) || /,"?temperature"?,23\.5$/.test(line)), csv)
})

test('devices list and reports', async () => {
  await page.locator('[data-test="nav-devices"]').click()
  await page.locator('[data-test="device-table"]').getByText(DEVICE_ID).waitFor(WAIT)
  await shot('devices')
  await page.locator('[data-test="nav-reports"]').click()
  await choose('report-devices', DEVICE_ID)
  await page.locator('h2').click()
  await page.locator('.n-base-select-menu').waitFor({ state: 'hidden', ...WAIT })
  // Over a day the readings, seconds apart, fall in one bucket: one point, no line.
  await choose('range-select', 'Last hour')
  await page.locator('.n-base-select-menu:visible').first().waitFor({ state: 'detached', ...WAIT })
  await page.locator('[data-test="report-metric"] .n-base-selection-label', { hasText: /\w/ }).waitFor(WAIT)
  await page.locator('[data-test="report-show"]').click()
  await page.locator('[data-test="line-chart"] canvas').first().waitFor(WAIT)
  await shot('reports')
  await page.locator('[data-test="nav-profile"]').click()
  await page.getByText('API tokens').waitFor(WAIT)
  await shot('profile')
})

test('switch the language to 中文', async () => {
  await page.locator('[data-test="nav-home"]').click()
  await choose('locale-switch', '中文')
  await page.locator('.n-base-select-menu').waitFor({ state: 'hidden', ...WAIT })
  await page.locator('[data-test="nav-devices"]').filter({ hasText: '设备' }).waitFor(WAIT)
  await page.locator(`[data-test="state-${DEVICE_ID}"]`).filter({ hasText: '开' }).waitFor(WAIT)
  assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN')
  await shot('home-zh-CN')
  await assertNavLabelsOnOneLine(page, 7)
})

/** Every page the navigation leads to, with its path; the owner is a hub admin and sees the audit log. */
const DESTINATIONS = [['devices', '/devices'], ['automations', '/automations'], ['scenes', '/scenes'], ['alerts', '/alerts'], ['reports', '/reports'], ['groups', '/groups'], ['apps', '/apps'], ['audit', '/audit'], ['profile', '/profile'], ['home', '/']]

test('on a 390 px phone the navigation is a menu: every label on one line, every page reachable (en, zh-CN)', async () => {
  for (const locale of ['en', 'zh-CN']) {
    const suffix = locale === 'en' ? '' : `-${locale}`
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await page.context().storageState(), isMobile: true, hasTouch: true })
    await phone.addInitScript((value) => localStorage.setItem('hearth.locale', value), locale)
    const phonePage = await phone.newPage()
    try {
      await phonePage.goto(`${hub.http}/`)
      await phonePage.locator(`[data-test="state-${DEVICE_ID}"]`).waitFor(WAIT)
      assert.equal(await phonePage.locator('html').getAttribute('lang'), locale)
      assert.ok(await phonePage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page is wider than the phone')
      await assertNavLabelsOnOneLine(phonePage, 0)
      await phonePage.screenshot({ path: `${shots}home-phone${suffix}.png`, fullPage: true })
      for (const [name, path] of DESTINATIONS) {
        await phonePage.locator('[data-test="nav-menu-toggle"]').click()
        const menu = phonePage.locator('[data-test="nav-menu"]')
        await menu.locator(`[data-test="nav-${name}"]`).waitFor(WAIT)
        await assertNavLabelsOnOneLine(menu, DESTINATIONS.length)
        if (name === 'devices') {
          // The picture waits for the drawer to finish sliding in.
          await phonePage.waitForFunction(() => document.querySelector('.n-drawer')?.getBoundingClientRect().left === 0, null, WAIT)
          await phonePage.screenshot({ path: `${shots}nav-phone${suffix}.png` })
        }
        await menu.locator(`[data-test="nav-${name}"]`).click()
        await phonePage.waitForURL((url) => url.pathname === path, WAIT)
        await menu.waitFor({ state: 'hidden', ...WAIT })
      }
    } finally {
      await phone.close()
    }
  }
})

test('dark theme', async () => {
  await page.locator('[data-test="theme-toggle"]').click()
  await page.locator('[data-test="nav-devices"]').click()
  await page.locator('[data-test="device-table"]').getByText(DEVICE_ID).waitFor(WAIT)
  await shot('devices-dark')
})

test('losing the network shows the offline banner; coming back reconnects', async () => {
  await page.locator('[data-test="nav-home"]').click()
  network.down = true
  for (const socket of network.sockets.splice(0)) await socket.close({ code: 1001 })
  await page.locator('[data-test="offline-banner"]').waitFor(WAIT)
  await shot('home-offline')
  network.down = false
  await page.locator('[data-test="offline-banner"]').waitFor({ state: 'detached', timeout: 90_000 })
  // The banner goes while the app is still connecting; a reading published then is lost.
  await page.locator('[data-live="online"]').waitFor(WAIT)
  await device.publish({ temperature: 24.75 })
  await page.locator(`[data-test="reading-${DEVICE_ID}-temperature"]`).filter({ hasText: '24.75' }).waitFor(WAIT)
})

test('a user with several groups can switch between them', async () => {
  // Origin: as the browser sends it on the app's own requests (the hub refuses
  // cookie changes without it, issue 12).
  const created = await page.request.post(`${hub.http}/api/v1/groups`, { data: { id: 'cabin', name: 'Cabin' }, headers: { Origin: hub.http } })
  assert.equal(created.status(), 201, await created.text())
  await page.reload()
  await page.locator('[data-test="group-switch"]').waitFor(WAIT)
  await choose('group-switch', 'Cabin')
  await page.locator('h2', { hasText: 'Cabin' }).waitFor(WAIT)
  await page.locator(`[data-test="device-card-${DEVICE_ID}"]`).waitFor({ state: 'detached', ...WAIT })
  await choose('group-switch', 'Home')
  await page.locator(`[data-test="device-card-${DEVICE_ID}"]`).waitFor(WAIT)
})

test('groups, members, an application with a grant, a device edit, all in the audit log', async () => {
  const user = await page.request.post(`${hub.http}/api/v1/users`, { data: { name: 'bob', password: 'bob-password-123' }, headers: { Origin: hub.http } })
  assert.equal(user.status(), 201, await user.text())
  await page.goto(`${hub.http}/groups`)
  await choose('locale-switch', 'English')
  await page.locator('.n-base-select-menu').waitFor({ state: 'hidden', ...WAIT })

  // A new group, and bob in it as an admin.
  await page.locator('input[name="group-id"]').fill('garage')
  await page.locator('input[name="group-name"]').fill('Garage')
  await page.locator('[data-test="group-create"]').click()
  await page.locator('[data-test="group-row-garage"]').waitFor(WAIT)
  await page.getByText('Members of Garage').waitFor(WAIT)
  await page.locator('input[name="member-user"]').fill('bob')
  await choose('member-role-new', 'Admin')
  await page.locator('[data-test="member-add"]').click()
  await page.locator('[data-test="member-role-bob"]').getByText('Admin').waitFor(WAIT)
  // The API's own words when a change is refused: no such user.
  await page.locator('input[name="member-user"]').fill('nobody')
  await page.locator('[data-test="member-add"]').click()
  await page.locator('[data-test="groups-error"]').waitFor(WAIT)
  await page.locator('.n-base-select-menu:visible').first().waitFor({ state: 'detached', ...WAIT })
  await shot('groups')

  // An application in Home: its MQTT key and secret shown once; bob may control its devices.
  await page.locator('[data-test="nav-apps"]').click()
  await page.locator('[data-test="app-row-default"]').waitFor(WAIT)
  await page.locator('input[name="app-id"]').fill('garden')
  await page.locator('input[name="app-name"]').fill('Garden')
  await page.locator('[data-test="app-create"]').click()
  const appSecret = page.locator('[data-test="app-secret-dialog"] input[data-test="app-mqtt-secret"]')
  await appSecret.waitFor(WAIT)
  assert.match(await appSecret.inputValue(), /^\S{16,}$/)
  await page.locator('[data-test="app-secret-close"]').click()
  await page.locator('[data-test="app-row-garden"]').waitFor(WAIT)
  await page.getByText('Grants on Garden').waitFor(WAIT)
  await page.locator('input[name="grant-user"]').fill('bob')
  await choose('grant-permission-new', 'Control')
  await page.locator('[data-test="grant-add"]').click()
  await page.locator('[data-test="grant-permission-bob"]').getByText('Control').waitFor(WAIT)
  await page.locator('.n-base-select-menu:visible').first().waitFor({ state: 'detached', ...WAIT })
  await shot('apps')

  // The device moves to the porch.
  await page.goto(`${hub.http}/devices/${DEVICE_ID}`)
  await page.locator('[data-test="edit-device"]').click()
  await page.locator('[data-test="edit-device-dialog"] input[name="room"]').fill('porch')
  await page.locator('[data-test="edit-device-submit"]').click()
  await page.locator('[data-test="device-room"]').filter({ hasText: 'porch' }).waitFor(WAIT)

  // The owner is a hub admin: the audit log lists all of it, and filters by target.
  await page.locator('[data-test="nav-audit"]').click()
  const table = page.locator('[data-test="audit-table"]')
  for (const action of ['group.add', 'group.member.set', 'app.add', 'app.grant.set', 'device.update']) {
    await table.getByText(action, { exact: true }).first().waitFor(WAIT)
  }
  await shot('audit')
  await page.locator('input[name="audit-target"]').fill('garage')
  await page.locator('[data-test="audit-filter"]').click()
  await table.getByText('app.add', { exact: true }).first().waitFor({ state: 'detached', ...WAIT })
  const targets = await table.locator('tbody tr td:nth-child(4)').allInnerTexts()
  assert.ok(targets.length > 0 && targets.every((target) => target === 'garage'), targets.join(','))
})

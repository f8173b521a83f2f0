// `hearth simulate --demo` end to end: a fresh hub (the real binary), the simulator as a
// real process registering the demo home in the hub's store and running its twelve
// devices over MQTT with real device credentials; in a real headless Chromium the owner
// sees the home with its rooms and devices, and a live reading that changes without a
// reload. Screenshot: docs/screenshots/simulate-demo-home.png. Every wait is for a
// condition, with a generous timeout; no fixed ports.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { launch } from './browser.mjs'
import { ADMIN_PASSWORD, hubBinary, startHub } from './hub.mjs'

const WAIT = { timeout: 60_000 }
const shots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url))
mkdirSync(shots, { recursive: true })

let hub, browser, page, simulator
let simulatorLog = ''

before(async () => {
  hub = await startHub()
  const mqtt = hub.mqtt.replace(/^mqtt:\/\//, '')
  simulator = spawn(hubBinary(), ['simulate', '--demo', '--data-dir', hub.dataDir, '--mqtt', mqtt, '--interval', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
  })
  simulator.stdout.on('data', (chunk) => { simulatorLog += chunk })
  simulator.stderr.on('data', (chunk) => { simulatorLog += chunk })
  browser = await launch()
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' })
  page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
})

after(async () => {
  if (simulator && simulator.exitCode === null) {
    const exited = new Promise((resolve) => simulator.once('exit', resolve))
    simulator.kill('SIGINT')
    await exited
  }
  await browser?.close()
  await hub?.stop()
})

test('the demo home shows live readings from simulated devices', async () => {
  await page.goto(`${hub.http}/login`)
  await page.locator('input[name="username"]').fill('admin')
  await page.locator('input[name="password"]').fill(ADMIN_PASSWORD)
  await page.locator('[data-test="login-submit"]').click()
  await page.waitForURL((url) => url.pathname === '/', WAIT)

  // The demo group may not be the one shown first: pick it (the simulator registers it
  // while the page loads, so reload until the hub lists it).
  const heading = page.locator('h2', { hasText: 'Demo home / 演示家庭' })
  for (let attempt = 0; attempt < 30 && !(await heading.isVisible()); attempt++) {
    const switcher = page.locator('[data-test="group-switch"]').first()
    if (await switcher.isVisible()) {
      await switcher.click()
      const option = page.locator('.n-base-select-menu:visible .n-base-select-option', { hasText: 'Demo home' }).first()
      if (await option.isVisible()) {
        await option.click()
        break
      }
      await page.keyboard.press('Escape')
    }
    await page.waitForTimeout(1000)
    await page.reload()
  }
  await heading.waitFor(WAIT)
  assert.equal(simulator.exitCode, null, `the simulator stopped:\n${simulatorLog}`)

  const cards = page.locator('[data-test^="device-card-demo-"]')
  await page.waitForFunction(() => document.querySelectorAll('[data-test^="device-card-demo-"]').length === 13, null, WAIT)
  assert.equal(await cards.count(), 13)
  await page.locator('[data-test^="room-"]', { hasText: 'Kitchen / 厨房' }).first().waitFor(WAIT)

  // A live reading arrives, then changes without a reload.
  // The sensor's place shows "—" until its first reading: wait for a number.
  const reading = page.locator('[data-test="reading-demo-living-climate-humidity"]')
  await page.waitForFunction(
    (selector) => /\d/.test(document.querySelector(selector)?.textContent ?? ''),
    '[data-test="reading-demo-living-climate-humidity"]',
    WAIT,
  )
  const first = (await reading.textContent()).trim()
  assert.match(first, /\d/)
  await page.waitForFunction(
    ({ selector, before }) => {
      const element = document.querySelector(selector)
      return element && element.textContent.trim() !== before
    },
    { selector: '[data-test="reading-demo-living-climate-humidity"]', before: first },
    WAIT,
  )
  await page.locator('[data-test="online-demo-front-door"][data-online="true"]').waitFor(WAIT)
  await page.waitForLoadState('networkidle').catch(() => {})
  await page.screenshot({ path: `${shots}simulate-demo-home.png`, fullPage: true })
})

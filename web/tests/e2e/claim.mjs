// Claiming a device with its label (issue 23), at phone width (390x844) in a real
// headless Chromium against the real hub: an installer pre-registers a lock unclaimed
// with the CLI (`hearth device add --unclaimed`), the lock connects with its secret; the
// person "scans" the label (opens its claim URL), logs in, claims the lock into the
// kitchen; the lock reports and is shown in the kitchen on the home page. Then its owner
// unclaims it on its page: the lock is disconnected and its old secret refused.
// Screenshot: docs/screenshots/claim.png. Every wait is for a condition; no fixed ports.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import { launch } from './browser.mjs'
import { hubBinary, startHub } from './hub.mjs'

const WAIT = { timeout: 30_000 }
const shots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url))
mkdirSync(shots, { recursive: true })

let hub, browser

/** Runs `hearth ARGS --data-dir <hub's>` (the same store as the running hub). */
async function hearth(args, stdin) {
  const child = promisify(execFile)(hubBinary(), [...args, '--data-dir', hub.dataDir], { env: { ...process.env, RUST_LOG: 'warn' } })
  if (stdin !== undefined) {
    child.child.stdin.end(stdin)
  }
  return (await child).stdout
}

before(async () => {
  hub = await startHub()
  await hearth(['user', 'add', 'alice', '--password-stdin'], 'alice-password\n')
  await hearth(['group', 'member', 'home', 'alice', 'member'])
  browser = await launch()
})

after(async () => {
  await browser?.close()
  await hub?.stop()
})

test('a person claims a labelled lock into the kitchen with a phone, then unclaims it', async () => {
  // The installer: the lock registered unclaimed, its secret flashed onto it, the code on its label.
  const made = JSON.parse(await hearth(['device', 'add', 'lock-1', '--unclaimed', '--kind', 'lock', '--name', 'Back door', '--url', hub.http, '--json']))
  assert.equal(made.claim_url, `${hub.http}/claim?d=lock-1&c=${made.code}`)
  // The lock, as firmware would: its id and secret, the offline will, its own topics.
  const lock = await mqtt.connectAsync(hub.mqtt, {
    clientId: 'lock-1', username: 'lock-1', password: made.secret, reconnectPeriod: 0,
    will: { topic: 'devices/lock-1/status', payload: 'offline', qos: 1, retain: true },
  })
  let closed = false
  lock.on('close', () => { closed = true })
  await lock.publishAsync('devices/lock-1/status', 'online', { qos: 1, retain: true })

  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'en-US' })
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))

  // "Scanning" the label opens its URL; not signed in yet, the login comes first.
  await page.goto(made.claim_url)
  await page.waitForURL((url) => url.pathname === '/login', WAIT)
  await page.locator('input[name="username"]').fill('alice')
  await page.locator('input[name="password"]').fill('alice-password')
  await page.locator('[data-test="login-submit"]').click()
  await page.waitForURL((url) => url.pathname === '/claim' && url.searchParams.get('c') === made.code, WAIT)
  await page.locator('[data-test="claim-page"]').waitFor(WAIT)
  assert.equal(await page.locator('input[name="device"]').inputValue(), 'lock-1')
  assert.equal(await page.locator('input[name="code"]').inputValue(), made.code)
  await page.locator('input[name="room"]').fill('kitchen')
  await page.screenshot({ path: `${shots}claim.png` })
  await page.locator('[data-test="claim-submit"]').click()
  await page.waitForURL((url) => url.pathname === '/devices/lock-1', WAIT)
  await page.locator('[data-test="device-owner"]', { hasText: 'alice' }).waitFor(WAIT)
  assert.equal(closed, false, 'claiming disconnected the lock')

  // The lock reports; alice sees it in the kitchen on the home page, live.
  await lock.publishAsync('devices/lock-1/data', JSON.stringify({ battery: 87 }), { qos: 1 })
  await page.goto(`${hub.http}/`)
  const card = page.locator('[data-test="room-kitchen"] [data-test="device-card-lock-1"]')
  await card.waitFor(WAIT)
  await card.getByText('87').first().waitFor(WAIT)

  // Unclaimed by its owner: disconnected at once, the old secret refused.
  await page.goto(`${hub.http}/devices/lock-1`)
  await page.locator('[data-test="unclaim-device"]').click()
  await page.locator('[data-test="unclaim-confirm"]').click()
  const newCode = await page.locator('[data-test="new-claim-code"]').textContent(WAIT)
  assert.match(newCode.trim(), /^[A-Za-z0-9]{16}$/)
  assert.notEqual(newCode.trim(), made.code)
  await page.locator('[data-test="device-unclaimed"]').waitFor(WAIT)
  const deadline = Date.now() + 30_000
  while (!closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(closed, true, 'the lock is still connected after unclaiming')
  await assert.rejects(
    mqtt.connectAsync(hub.mqtt, { clientId: 'lock-1', username: 'lock-1', password: made.secret, reconnectPeriod: 0 }),
    /Not authorized|Bad username or password/i,
  )
  await lock.endAsync().catch(() => {})
  await context.close()
})

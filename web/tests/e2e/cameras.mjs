// Cameras end to end (issue 18, seed 000; docs/cameras.md) in a real headless Chromium
// against the real hub: a camera device (mqtt.js in Node, logged in with its own secret)
// publishes a retained JPEG on devices/{id}/snapshot before anyone looks; Home's card and
// the device page then show it (decoded by Chromium: 160×120, the simulator's picture),
// and a new snapshot replaces it live. Two more cameras point at a local HTTP server: one
// with a snapshot URL the page polls, one with an MJPEG stream. Screenshots:
// docs/screenshots/camera-device.png, camera-home.png. Every wait is for a condition.
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { launch } from './browser.mjs'
import { ADMIN_PASSWORD, startHub } from './hub.mjs'

const WAIT = { timeout: 30_000 }
const shots = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url))
mkdirSync(shots, { recursive: true })
/** The simulator's 160×120 picture (crates/hearth/src/simulate/snapshot.rs writes it). */
const JPEG = readFileSync(fileURLToPath(new URL('../fixtures/camera-snapshot.jpg', import.meta.url)))

let hub, browser, page, camera, media
/** Requests the local "camera" HTTP server answered, by path. */
const served = { '/snap.jpg': 0, '/mjpeg': 0 }

async function api(method, path, data) {
  const response = await page.request.fetch(`${hub.http}/api/v1${path}`, { method, data, headers: { Origin: hub.http } })
  const text = await response.text()
  assert.ok(response.ok(), `${method} ${path}: ${response.status()} ${text}`)
  return text ? JSON.parse(text) : undefined
}

/** Waits until the `<img>` matched by `selector` has decoded a picture; returns its size. */
async function decoded(target, selector) {
  await target.waitForFunction(
    (css) => {
      const image = document.querySelector(css)
      return image instanceof HTMLImageElement && image.complete && image.naturalWidth > 0
    },
    selector,
    WAIT,
  )
  return target.evaluate((css) => {
    const image = document.querySelector(css)
    return { width: image.naturalWidth, height: image.naturalHeight, src: image.getAttribute('src') }
  }, selector)
}

before(async () => {
  // A stand-in for IP cameras on the LAN: a snapshot URL and an MJPEG stream.
  media = createServer((request, response) => {
    const path = new URL(request.url, 'http://x').pathname
    if (path in served) served[path] += 1
    if (path === '/snap.jpg') {
      response.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'no-store' }).end(JPEG)
    } else if (path === '/mjpeg') {
      response.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame' })
      const frame = () => {
        response.write(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${JPEG.length}\r\n\r\n`)
        response.write(JPEG)
        response.write('\r\n')
      }
      frame()
      const timer = setInterval(frame, 500)
      request.on('close', () => clearInterval(timer))
    } else {
      response.writeHead(404).end()
    }
  })
  await new Promise((resolve) => media.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${media.address().port}`

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

  const porch = await api('POST', '/devices', { id: 'porch-cam', app: 'default', name: 'Porch camera', kind: 'camera', room: 'porch' })
  await api('POST', '/devices', {
    id: 'garage-cam', app: 'default', name: 'Garage camera', kind: 'camera', room: 'garage',
    metadata: { capabilities: [{ type: 'camera', snapshot: `${base}/snap.jpg` }] },
  })
  await api('POST', '/devices', {
    id: 'door-cam', app: 'default', name: 'Door camera', kind: 'camera', room: 'porch',
    metadata: { capabilities: [{ type: 'camera', mjpeg: `${base}/mjpeg`, snapshot: 'mqtt' }] },
  })
  // The camera publishes its snapshot before any page subscribes: the broker keeps it.
  camera = await mqtt.connectAsync(hub.mqtt, {
    clientId: 'porch-cam', username: 'porch-cam', password: porch.secret, reconnectPeriod: 0,
    will: { topic: 'devices/porch-cam/status', payload: 'offline', qos: 1, retain: true },
  })
  await camera.publishAsync('devices/porch-cam/status', 'online', { qos: 1, retain: true })
  await camera.publishAsync('devices/porch-cam/snapshot', JPEG, { qos: 1, retain: true })
  await page.reload()
})

after(async () => {
  await camera?.endAsync()
  await browser?.close()
  await hub?.stop()
  // The MJPEG response never ends by itself.
  media?.closeAllConnections()
  await new Promise((resolve) => media?.close(resolve))
})

test("Home's card shows a camera's retained MQTT snapshot, a polled snapshot URL and an MJPEG stream", async () => {
  const porch = await decoded(page, '[data-test="device-card-porch-cam"] [data-test="camera-image-porch-cam"]')
  assert.deepEqual([porch.width, porch.height], [160, 120])
  assert.match(porch.src, /^blob:/)
  assert.match(await page.locator('[data-test="camera-snapshot-time-porch-cam"]').innerText(), /kept by the hub/)

  const garage = await decoded(page, '[data-test="camera-image-garage-cam"]')
  assert.equal(garage.width, 160)
  assert.equal(await page.locator('[data-test="camera-image-garage-cam"]').getAttribute('data-source'), 'snapshot-http')
  // Fetched again a few seconds later, with a new URL each time.
  const before = served['/snap.jpg']
  await page.waitForFunction((src) => document.querySelector('[data-test="camera-image-garage-cam"]')?.getAttribute('src') !== src, garage.src, WAIT)
  await decoded(page, '[data-test="camera-image-garage-cam"]')
  assert.ok(served['/snap.jpg'] > before, 'the snapshot URL was fetched again')

  // The door camera has a stream and MQTT snapshots: the card prefers the snapshot (none
  // yet), so it asks nothing of the stream.
  await page.locator('[data-test="camera-empty-door-cam"]').waitFor(WAIT)
  assert.equal(served['/mjpeg'], 0)
  await page.waitForLoadState('networkidle').catch(() => {})
  await page.screenshot({ path: `${shots}camera-home.png`, fullPage: true })
})

test('the device page shows the snapshot full size and follows a new one live', async () => {
  await page.goto(`${hub.http}/devices/porch-cam`)
  const shown = await decoded(page, '[data-test="camera-image-porch-cam"]')
  assert.equal(shown.width, 160)
  // The compact view inside the page's device card stays hidden: one picture, not two.
  assert.equal(await page.locator('[data-test="camera-image-porch-cam"]').count(), 1)

  // A new picture (the same image with a 600 KB tail: new bytes, camera-sized, through
  // the broker's WebSocket listener to the page) replaces it live.
  await camera.publishAsync('devices/porch-cam/snapshot', Buffer.concat([JPEG, Buffer.alloc(600 * 1024)]), { qos: 1, retain: true })
  await page.waitForFunction((src) => document.querySelector('[data-test="camera-image-porch-cam"]')?.getAttribute('src') !== src, shown.src, WAIT)
  await decoded(page, '[data-test="camera-image-porch-cam"]')
  await page.locator('[data-test="camera-snapshot-time-porch-cam"]', { hasText: 'Snapshot received' }).waitFor(WAIT)
  // All 600 KB arrived (the store's size of the blob the image shows).
  assert.equal(await page.locator('[data-test="camera-image-porch-cam"]').getAttribute('data-size'), String(JPEG.length + 600 * 1024))
  // The replaced object URL was revoked (it no longer loads), the current one loads.
  const loads = (src) => page.evaluate((url) => new Promise((resolve) => {
    const image = new Image()
    image.onload = () => resolve(true)
    image.onerror = () => resolve(false)
    image.src = url
  }), src)
  assert.equal(await loads(await page.locator('[data-test="camera-image-porch-cam"]').getAttribute('src')), true)
  assert.equal(await loads(shown.src), false, 'the previous snapshot was revoked')
  await page.screenshot({ path: `${shots}camera-device.png`, fullPage: true })
})

test("the door camera's page plays its MJPEG stream", async () => {
  await page.goto(`${hub.http}/devices/door-cam`)
  const stream = await decoded(page, '[data-test="camera-image-door-cam"]')
  assert.equal(stream.width, 160)
  assert.equal(await page.locator('[data-test="camera-image-door-cam"]').getAttribute('data-source'), 'mjpeg')
  assert.ok(served['/mjpeg'] >= 1)
  // The other source is one click away.
  await page.locator('[data-test="camera-source-snapshot-mqtt"]').click()
  await page.locator('[data-test="camera-empty-door-cam"]').waitFor(WAIT)
})

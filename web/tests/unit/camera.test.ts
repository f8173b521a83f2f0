// Cameras (docs/cameras.md): which sources a camera's capability gives and in which order,
// which URLs the browser may load, the snapshot store's object URLs (one per camera, the
// old one revoked), and CameraView showing an MQTT snapshot, polling an HTTP snapshot and
// falling back to a link for HLS where the browser cannot play it.
import { EventEmitter } from 'node:events'
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import CameraView from '@/components/CameraView.vue'
import { createLiveClient } from '@/mqtt/client'
import { i18n } from '@/locales'
import { useSnapshotStore } from '@/stores/snapshots'
import {
  cameraOf,
  cameraSources,
  compactSource,
  imageType,
  playsHlsNatively,
  pollUrl,
  safeStreamUrl,
  SNAPSHOT_POLL_SECS,
  snapshotTopics,
} from '@/utils/camera'

const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46])
const camera = (metadata: unknown, kind = 'camera') => ({ id: 'porch-cam', name: 'Porch', kind, metadata })

let created = 0
const revoked: string[] = []

beforeEach(() => {
  setActivePinia(createPinia())
  i18n.global.locale.value = 'en'
  created = 0
  revoked.length = 0
  vi.spyOn(URL, 'createObjectURL').mockImplementation(() => `blob:test/${++created}`)
  vi.spyOn(URL, 'revokeObjectURL').mockImplementation((url: string) => void revoked.push(url))
})

afterEach(() => {
  vi.restoreAllMocks()
  vi.useRealTimers()
})

describe('camera capability', () => {
  it('lists streams before snapshots and defaults to MQTT snapshots', () => {
    const full = { type: 'camera', mjpeg: 'http://cam.local/mjpeg', hls: 'http://media:8888/porch/index.m3u8', snapshot: 'mqtt' } as const
    expect(cameraSources(full).map((source) => source.kind)).toEqual(['mjpeg', 'hls', 'snapshot-mqtt'])
    expect(cameraSources({ type: 'camera' })).toEqual([{ kind: 'snapshot-mqtt' }])
    expect(cameraSources({ type: 'camera', snapshot: 'http://cam.local/snap.jpg' })).toEqual([{ kind: 'snapshot-http', url: 'http://cam.local/snap.jpg' }])
    expect(compactSource(cameraSources(full))?.kind).toBe('snapshot-mqtt')
    expect(compactSource(cameraSources({ type: 'camera', mjpeg: 'http://cam.local/m', hls: 'http://m/x.m3u8' }))?.kind).toBe('mjpeg')
  })

  it('is declared in metadata or implied by the kind, and metadata wins', () => {
    expect(cameraOf(camera({}))).toEqual({ type: 'camera' })
    expect(cameraOf(camera({ capabilities: [{ type: 'switch' }, { type: 'camera', mjpeg: 'http://x/m' }] }, 'sensor'))).toEqual({ type: 'camera', mjpeg: 'http://x/m' })
    expect(cameraOf(camera({ capabilities: [{ type: 'switch' }] }))).toBeNull()
    expect(cameraOf(camera(null, 'light'))).toBeNull()
    // A device may declare itself a camera on devices/{id}/capabilities; metadata still wins.
    expect(cameraOf(camera({}, 'sensor'), [{ type: 'camera', snapshot: 'mqtt' }])).toEqual({ type: 'camera', snapshot: 'mqtt' })
    expect(cameraOf(camera({ capabilities: [{ type: 'switch' }] }), [{ type: 'camera' }])).toBeNull()
  })

  it('loads only absolute http(s) URLs', () => {
    expect(safeStreamUrl('https://cam.local/a.jpg')).toBe('https://cam.local/a.jpg')
    for (const bad of ['javascript:alert(1)', 'data:image/jpeg;base64,AAAA', '/relative.jpg', 'file:///etc/passwd', '', 42, null]) {
      expect(safeStreamUrl(bad), String(bad)).toBeNull()
    }
    // A bad URL is dropped, so the camera falls back to MQTT snapshots.
    expect(cameraSources({ type: 'camera', mjpeg: 'javascript:alert(1)' })).toEqual([{ kind: 'snapshot-mqtt' }])
  })

  it('follows the snapshot topic of cameras that publish over MQTT only', () => {
    const devices = [
      camera({}),
      { id: 'lamp', kind: 'light', metadata: {} },
      { id: 'door-cam', kind: 'camera', metadata: { capabilities: [{ type: 'camera', mjpeg: 'http://door/m' }] } },
    ]
    expect(snapshotTopics(devices)).toEqual(['devices/porch-cam/snapshot'])
    expect(snapshotTopics(devices, { lamp: [{ type: 'camera' }] })).toEqual(['devices/porch-cam/snapshot', 'devices/lamp/snapshot'])
  })

  it('polls with a fresh URL and recognises images by their first bytes', () => {
    expect(pollUrl('http://cam.local/snap.jpg?user=view', 42)).toBe('http://cam.local/snap.jpg?user=view&_hearth=42')
    expect(imageType(JPEG)).toBe('image/jpeg')
    expect(imageType(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]))).toBe('image/png')
    expect(imageType(new TextEncoder().encode('{"motion": true}'))).toBeNull()
    expect(playsHlsNatively({ canPlayType: () => 'maybe' })).toBe(true)
    expect(playsHlsNatively({ canPlayType: () => '' })).toBe(false)
  })
})

describe('the live client', () => {
  it('hands snapshot bytes over undecoded, with the retain flag, and text to onMessage', async () => {
    const fake = new EventEmitter() as EventEmitter & { subscribe: () => void; end: () => void; connected: boolean }
    fake.subscribe = () => {}
    fake.end = () => {}
    fake.connected = true
    const store = useSnapshotStore()
    const texts: string[] = []
    const live = createLiveClient({
      fetchCredentials: async () => ({ ws_url: 'ws://hub/mqtt', client_id: 'web:a:1', username: 'a', password: 'p', expires_at_ms: 0 }),
      connect: (() => fake) as never,
      onBytes: (topic, payload, retained) => store.applyMessage(topic, payload, retained),
      onMessage: (topic) => texts.push(topic),
      onState: () => {},
    })
    await vi.waitFor(() => expect(fake.listenerCount('message')).toBe(1))
    fake.emit('message', 'devices/porch-cam/snapshot', Buffer.from(JPEG), { retain: true })
    fake.emit('message', 'devices/porch-cam/data', Buffer.from('{"motion": true}'), { retain: false })
    expect(store.snapshots['porch-cam']).toMatchObject({ size: JPEG.length, retained: true })
    expect(texts).toEqual(['devices/porch-cam/data'])
    live.stop()
  })
})

describe('snapshot store', () => {
  it('keeps one object URL per camera and revokes the one it replaces', () => {
    const store = useSnapshotStore()
    expect(store.applyMessage('devices/porch-cam/snapshot', JPEG, true, 1000)).toBe(true)
    expect(store.snapshots['porch-cam']).toMatchObject({ url: 'blob:test/1', type: 'image/jpeg', size: JPEG.length, retained: true })
    store.applyMessage('devices/porch-cam/snapshot', JPEG, false, 2000)
    expect(store.snapshots['porch-cam'].url).toBe('blob:test/2')
    expect(revoked).toEqual(['blob:test/1'])
    // Not an image: counted, the last good picture stays.
    store.applyMessage('devices/porch-cam/snapshot', new TextEncoder().encode('hello'))
    expect(store.rejected['porch-cam']).toBe(1)
    expect(store.snapshots['porch-cam'].url).toBe('blob:test/2')
    // An empty retained message clears it.
    store.applyMessage('devices/porch-cam/snapshot', new Uint8Array())
    expect(store.snapshots['porch-cam']).toBeUndefined()
    expect(revoked).toEqual(['blob:test/1', 'blob:test/2'])
  })

  it('leaves other topics to the text handlers', () => {
    const store = useSnapshotStore()
    expect(store.applyMessage('devices/porch-cam/data', JPEG)).toBe(false)
    expect(store.applyMessage('hearth/alerts/home', JPEG)).toBe(false)
    expect(Object.keys(store.snapshots)).toEqual([])
  })

  it('revokes everything on reset (logout)', () => {
    const store = useSnapshotStore()
    store.applyMessage('devices/a/snapshot', JPEG)
    store.applyMessage('devices/b/snapshot', JPEG)
    store.reset()
    expect(revoked.sort()).toEqual(['blob:test/1', 'blob:test/2'])
    expect(store.snapshots).toEqual({})
  })
})

function mountView(device: ReturnType<typeof camera>, compact = false) {
  return mount(CameraView, { props: { device, compact }, global: { plugins: [i18n] } })
}

describe('CameraView', () => {
  it('shows the MQTT snapshot once it arrives', async () => {
    const wrapper = mountView(camera({}))
    expect(wrapper.find('[data-test="camera-empty-porch-cam"]').text()).toBe('No snapshot yet')
    useSnapshotStore().applyMessage('devices/porch-cam/snapshot', JPEG, false, Date.now())
    await flushPromises()
    const image = wrapper.find('[data-test="camera-image-porch-cam"]')
    expect(image.attributes('src')).toBe('blob:test/1')
    expect(image.attributes('data-source')).toBe('snapshot-mqtt')
    expect(wrapper.find('[data-test="camera-snapshot-time-porch-cam"]').text()).toContain('Snapshot received')
  })

  it('fetches an HTTP snapshot again every few seconds', async () => {
    vi.useFakeTimers()
    const wrapper = mountView(camera({ capabilities: [{ type: 'camera', snapshot: 'http://cam.local/snap.jpg' }] }))
    const first = wrapper.find('[data-test="camera-image-porch-cam"]').attributes('src')
    expect(first).toMatch(/^http:\/\/cam\.local\/snap\.jpg\?_hearth=\d+$/)
    await vi.advanceTimersByTimeAsync(SNAPSHOT_POLL_SECS * 1000 + 1)
    const second = wrapper.find('[data-test="camera-image-porch-cam"]').attributes('src')
    expect(second).not.toBe(first)
    wrapper.unmount()
  })

  it('shows an MJPEG stream as an image, offers the other sources, and says when it fails', async () => {
    const wrapper = mountView(camera({ capabilities: [{ type: 'camera', mjpeg: 'http://cam.local/mjpeg', snapshot: 'mqtt' }] }))
    const image = wrapper.find('[data-test="camera-image-porch-cam"]')
    expect(image.attributes('src')).toBe('http://cam.local/mjpeg')
    expect(wrapper.find('[data-test="camera-source-snapshot-mqtt"]').exists()).toBe(true)
    await image.trigger('error')
    expect(wrapper.find('[data-test="camera-error-porch-cam"]').text()).toContain('cam.local')
  })

  it('links an HLS stream where the browser cannot play it', () => {
    vi.spyOn(HTMLMediaElement.prototype, 'canPlayType').mockReturnValue('')
    const wrapper = mountView(camera({ capabilities: [{ type: 'camera', hls: 'http://media.local:8888/porch/index.m3u8' }] }))
    const link = wrapper.find('[data-test="camera-hls-link-porch-cam"] a')
    expect(link.attributes('href')).toBe('http://media.local:8888/porch/index.m3u8')
    expect(link.attributes('rel')).toContain('noopener')
  })

  it('plays HLS in a video element where the browser can', () => {
    vi.spyOn(HTMLMediaElement.prototype, 'canPlayType').mockReturnValue('maybe')
    const wrapper = mountView(camera({ capabilities: [{ type: 'camera', hls: 'http://media.local:8888/porch/index.m3u8' }] }))
    expect(wrapper.find('[data-test="camera-video-porch-cam"]').attributes('src')).toBe('http://media.local:8888/porch/index.m3u8')
  })

  it('is nothing for a device that is no camera', () => {
    const wrapper = mountView(camera({}, 'light'))
    expect(wrapper.find('[data-test="camera-porch-cam"]').exists()).toBe(false)
  })
})

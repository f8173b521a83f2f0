/**
 * What a camera shows and where from (docs/cameras.md). A camera is a device whose
 * capabilities (`metadata.capabilities`) hold `{"type":"camera","mjpeg"?,"hls"?,"snapshot"?}`,
 * or a device of kind `camera` without that list (then it publishes snapshots over MQTT).
 * Hearth neither proxies nor transcodes: the browser loads the URLs itself, so only plain
 * http(s) URLs are used (no `javascript:` or `data:` from a device's metadata).
 */
import type { InjectionKey } from 'vue'
import type { Capability } from '@/types/capability'
import { findCapability, resolveCapabilities } from '@/utils/capabilities'

/** The camera capability (design of issue 18; read by `utils/capabilities.ts`). */
export type CameraCapability = Extract<Capability, { type: 'camera' }>

export type CameraSource =
  | { kind: 'mjpeg'; url: string }
  | { kind: 'hls'; url: string }
  | { kind: 'snapshot-http'; url: string }
  | { kind: 'snapshot-mqtt' }

export interface CameraDevice {
  id: string
  kind: string
  metadata?: unknown
}

/**
 * Provided (as `true`) by a page that shows a camera's full view, so that the compact
 * view inside the same device's card stays hidden instead of showing the picture twice.
 */
export const FULL_CAMERA_VIEW: InjectionKey<boolean> = Symbol('full-camera-view')

/** How often a snapshot URL is fetched again, in seconds. */
export const SNAPSHOT_POLL_SECS = 5

/** A URL the browser may load: absolute http(s) only; anything else is `null`. */
export function safeStreamUrl(value: unknown): string | null {
  if (typeof value !== 'string' || !value.trim()) return null
  try {
    const url = new URL(value.trim())
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null
  } catch {
    return null
  }
}

/**
 * The device's camera capability, or `null` when it is no camera: from its metadata, else
 * what it declared on `devices/{id}/capabilities` (`declared`), else its kind.
 */
export function cameraOf(device: CameraDevice, declared?: unknown): CameraCapability | null {
  return findCapability(resolveCapabilities(device, declared).capabilities, 'camera') ?? null
}

/**
 * What to show, best first: a live stream (MJPEG, then HLS), then snapshots (over HTTP,
 * then MQTT). A camera that names nothing usable publishes snapshots over MQTT.
 */
export function cameraSources(camera: CameraCapability): CameraSource[] {
  const sources: CameraSource[] = []
  const mjpeg = safeStreamUrl(camera.mjpeg)
  if (mjpeg) sources.push({ kind: 'mjpeg', url: mjpeg })
  const hls = safeStreamUrl(camera.hls)
  if (hls) sources.push({ kind: 'hls', url: hls })
  const snapshot = camera.snapshot === 'mqtt' ? null : safeStreamUrl(camera.snapshot)
  if (snapshot) sources.push({ kind: 'snapshot-http', url: snapshot })
  if (camera.snapshot === 'mqtt' || sources.length === 0) sources.push({ kind: 'snapshot-mqtt' })
  return sources
}

/**
 * The one picture a compact view (Home's card) shows: a snapshot if the camera has any
 * (cheap: one image every few seconds), else its MJPEG stream, else its HLS stream.
 */
export function compactSource(sources: CameraSource[]): CameraSource | null {
  const order: CameraSource['kind'][] = ['snapshot-mqtt', 'snapshot-http', 'mjpeg', 'hls']
  for (const kind of order) {
    const found = sources.find((source) => source.kind === kind)
    if (found) return found
  }
  return null
}

/** Whether the page should follow `devices/{id}/snapshot` for this device. */
export function wantsMqttSnapshots(device: CameraDevice, declared?: unknown): boolean {
  const camera = cameraOf(device, declared)
  return camera !== null && cameraSources(camera).some((source) => source.kind === 'snapshot-mqtt')
}

/** The snapshot topics of the cameras among `devices` (`declared`: their own declarations by id). */
export function snapshotTopics(devices: CameraDevice[], declared: Record<string, unknown> = {}): string[] {
  return devices.filter((device) => wantsMqttSnapshots(device, declared[device.id])).map((device) => `devices/${device.id}/snapshot`)
}

/** The snapshot URL with a cache-busting parameter, so that each poll fetches a new image. */
export function pollUrl(url: string, now: number): string {
  const next = new URL(url)
  next.searchParams.set('_hearth', String(now))
  return next.href
}

/** The image type of a snapshot payload from its first bytes; `null` if it is no JPEG or PNG. */
export function imageType(bytes: Uint8Array): 'image/jpeg' | 'image/png' | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg'
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
  if (bytes.length >= png.length && png.every((byte, index) => bytes[index] === byte)) return 'image/png'
  return null
}

/**
 * Whether this browser plays HLS in a `<video>` by itself (Safari, iOS, Android). Others
 * (desktop Chromium, Firefox) get a link to the stream: a media server such as MediaMTX
 * serves a player page there (docs/cameras.md explains why hls.js is not bundled).
 */
export function playsHlsNatively(video: Pick<HTMLVideoElement, 'canPlayType'> | null | undefined): boolean {
  if (!video) return false
  return video.canPlayType('application/vnd.apple.mpegurl') !== '' || video.canPlayType('application/x-mpegURL') !== ''
}

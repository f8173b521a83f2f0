/**
 * Whether a device is a camera, from its metadata, its own live declaration
 * (`devices/{id}/capabilities`, in the capability store) or its kind; reactive when called
 * in a template or a computed.
 */
import { useCapabilityStore } from '@/stores/capabilities'
import { cameraOf, type CameraDevice } from '@/utils/camera'

export function isCamera(device: CameraDevice): boolean {
  return cameraOf(device, useCapabilityStore().declared[device.id]) !== null
}

/**
 * One control of a device (`brightness`, `setpoint`, `lock`...): its last request, whether
 * it is pending (sent, not yet confirmed or refused by the device), and `send`, which
 * posts the command and tracks it (`stores/live.ts`). The value a control shows as
 * confirmed is always the device's reported state, never the request.
 */
import { useMessage } from 'naive-ui'
import { computed, toValue, type MaybeRefOrGetter } from 'vue'
import { useDeviceStore } from '@/stores/devices'
import { isFinal, useLiveStore } from '@/stores/live'
import type { ControlCommand } from '@/types/capability'

export function useControl(device: MaybeRefOrGetter<string>, control: string) {
  const live = useLiveStore()
  const devices = useDeviceStore()
  const message = useMessage()
  const request = computed(() => live.controlRequest(toValue(device), control))
  const pending = computed(() => request.value !== undefined && !isFinal(request.value.status))
  const failed = computed(() => {
    const status = request.value?.status
    return status === 'failed' || status === 'timeout' ? status : null
  })
  /** The params asked for while pending (what the control shows as "pending"). */
  const wanted = computed(() => (pending.value ? request.value?.command.params : undefined))

  async function send(command: ControlCommand) {
    try {
      await devices.sendControl(toValue(device), control, command)
    } catch (error) {
      message.error((error as Error).message)
    }
  }

  return { request, pending, failed, wanted, send }
}

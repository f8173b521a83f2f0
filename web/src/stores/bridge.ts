/**
 * The home hub's link to its cloud hub (issue 20, docs/bridge.md "Visible"), polled while
 * the Cloud link page is open: the queue and the counters move with every reading the
 * household's devices send, which no live topic carries.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { fetchBridge, type BridgeStatus } from '@/api/bridge'
import { StoreId } from '@/enum'
import { errorText } from '@/utils/error'

/** How often the page asks again. */
export const BRIDGE_POLL_MS = 2000

export const useBridgeStore = defineStore(StoreId.Bridge, () => {
  const status = ref<BridgeStatus | null>(null)
  /** The hub has no `[bridge]` section (it answered 404). */
  const absent = ref(false)
  /** Whether an answer (or the 404) came at all. */
  const loaded = ref(false)
  const error = ref('')
  let timer: ReturnType<typeof setInterval> | undefined

  async function load() {
    try {
      const answer = await fetchBridge()
      status.value = answer
      absent.value = answer === null
      error.value = ''
    } catch (caught) {
      error.value = errorText(caught)
    } finally {
      loaded.value = true
    }
  }

  /** Loads now and every `everyMs` until `stop()`. */
  function start(everyMs = BRIDGE_POLL_MS) {
    stop()
    void load()
    timer = setInterval(() => void load(), everyMs)
  }

  function stop() {
    if (timer !== undefined) clearInterval(timer)
    timer = undefined
  }

  return { status, absent, loaded, error, load, start, stop }
})

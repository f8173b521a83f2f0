import { onBeforeUnmount, ref } from 'vue'

/** The current time, refreshed every `everyMs` (for "5 s ago" labels). */
export function useNow(everyMs = 5000) {
  const now = ref(Date.now())
  const timer = setInterval(() => (now.value = Date.now()), everyMs)
  onBeforeUnmount(() => clearInterval(timer))
  return now
}

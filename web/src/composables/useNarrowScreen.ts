import { onBeforeUnmount, ref } from 'vue'

/** Below Naive UI's `s` breakpoint (640 px) a screen is a phone's: the app shows its navigation as a menu. */
export const NARROW_QUERY = '(max-width: 639.98px)'

/** Whether the window is narrow, kept up to date as it is resized or turned. */
export function useNarrowScreen() {
  const media = globalThis.matchMedia?.(NARROW_QUERY)
  const narrow = ref(media?.matches ?? false)
  const update = (event: MediaQueryListEvent) => (narrow.value = event.matches)
  media?.addEventListener('change', update)
  onBeforeUnmount(() => media?.removeEventListener('change', update))
  return narrow
}

/** Registers the service worker that caches the app's shell (vite-plugin-pwa). */
export function setupPwa(): void {
  if (import.meta.env.PROD && 'serviceWorker' in navigator) {
    void import('virtual:pwa-register').then(({ registerSW }) => registerSW({ immediate: true }))
  }
}

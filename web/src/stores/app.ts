/** Theme and language: the person's choices, kept in localStorage. */
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import { StoreId, StorageKey } from '@/enum'
import { applyLocale, detectLocale, isLocale, type Locale } from '@/locales'

export type ThemeChoice = 'light' | 'dark' | 'auto'

export const useAppStore = defineStore(StoreId.App, () => {
  const storedTheme = localStorage.getItem(StorageKey.Theme)
  const theme = ref<ThemeChoice>(storedTheme === 'light' || storedTheme === 'dark' ? storedTheme : 'auto')
  const prefersDark = ref(globalThis.matchMedia?.('(prefers-color-scheme: dark)').matches ?? false)
  const dark = computed(() => (theme.value === 'auto' ? prefersDark.value : theme.value === 'dark'))
  const storedLocale = localStorage.getItem(StorageKey.Locale)
  const locale = ref<Locale>(isLocale(storedLocale) ? storedLocale : detectLocale())

  watch(theme, (value) => localStorage.setItem(StorageKey.Theme, value))
  watch(locale, (value) => applyLocale(value), { immediate: true })

  function toggleTheme() {
    theme.value = dark.value ? 'light' : 'dark'
  }

  /** A choice made in the app is remembered on this browser. */
  function setLocale(value: Locale) {
    locale.value = value
    localStorage.setItem(StorageKey.Locale, value)
  }

  /** The account's language applies unless this browser has its own choice. */
  function adoptAccountLocale(value: string | undefined) {
    if (isLocale(value) && !localStorage.getItem(StorageKey.Locale)) locale.value = value
  }

  return { theme, dark, locale, toggleTheme, setLocale, adoptAccountLocale }
})

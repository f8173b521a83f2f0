/** Who is logged in, their groups, and which group the app shows. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import * as authApi from '@/api/auth'
import { fetchGroups } from '@/api/groups'
import { StoreId, StorageKey } from '@/enum'
import type { Group, Me, RegisterRequest } from '@/types/models'

export const useAuthStore = defineStore(StoreId.Auth, () => {
  const me = ref<Me | null>(null)
  const groups = ref<Group[]>([])
  const currentGroupId = ref<string | null>(localStorage.getItem(StorageKey.Group))
  /** Whether `load()` has asked the hub once (the router waits for it). */
  const checked = ref(false)

  const loggedIn = computed(() => me.value !== null)
  const user = computed(() => me.value?.user ?? null)
  const currentGroup = computed(
    () => groups.value.find((group) => group.id === currentGroupId.value) ?? groups.value[0] ?? null,
  )

  async function loadGroups() {
    groups.value = await fetchGroups()
    if (!groups.value.some((group) => group.id === currentGroupId.value)) {
      currentGroupId.value = groups.value[0]?.id ?? null
    }
  }

  /** Asks the hub who the session belongs to; false when there is none. */
  async function load(): Promise<boolean> {
    try {
      me.value = await authApi.fetchMe()
      await loadGroups()
      return true
    } catch {
      me.value = null
      return false
    } finally {
      checked.value = true
    }
  }

  async function login(username: string, password: string) {
    me.value = await authApi.login(username, password)
    checked.value = true
    await loadGroups()
  }

  /** Creates an account; the hub logs it in at once. */
  async function register(request: RegisterRequest) {
    me.value = await authApi.register(request)
    checked.value = true
    await loadGroups()
  }

  async function logout() {
    try {
      await authApi.logout()
    } finally {
      clear()
    }
  }

  /** Forgets the session locally (after logout or a 401). */
  function clear() {
    me.value = null
    groups.value = []
  }

  function selectGroup(id: string) {
    currentGroupId.value = id
    localStorage.setItem(StorageKey.Group, id)
  }

  function setMe(value: Me) {
    me.value = value
  }

  return { me, user, groups, currentGroup, currentGroupId, checked, loggedIn, load, loadGroups, login, register, logout, clear, selectGroup, setMe }
})

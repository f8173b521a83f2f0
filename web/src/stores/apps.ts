/** The applications page: the current group's applications, one's grants, a secret shown once. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import * as appsApi from '@/api/apps'
import { StoreId } from '@/enum'
import type { App, AppSecret, Grant } from '@/types/models'
import { errorText } from '@/utils/error'

/** Who may create applications and change grants: `manage` on the app, or a group admin. */
export const canManageApp = (app: Pick<App, 'my_permission'> | null | undefined, groupRole?: string | null) =>
  app?.my_permission === 'manage' || groupRole === 'owner' || groupRole === 'admin'

export const useAppsStore = defineStore(StoreId.Apps, () => {
  const group = ref<string | null>(null)
  const apps = ref<App[]>([])
  const selectedId = ref<string | null>(null)
  const grants = ref<Grant[]>([])
  /** The MQTT key and secret of an app just created or rotated; shown once. */
  const secret = ref<AppSecret | null>(null)
  const error = ref('')

  const selected = computed(() => apps.value.find((app) => app.id === selectedId.value) ?? null)

  async function attempt(action: () => Promise<unknown>): Promise<boolean> {
    error.value = ''
    try {
      await action()
      return true
    } catch (caught) {
      error.value = errorText(caught)
      return false
    }
  }

  async function load(groupId: string | null) {
    group.value = groupId
    apps.value = []
    if (!groupId) return select(null)
    await attempt(async () => (apps.value = await appsApi.fetchApps(groupId)))
    if (!apps.value.some((app) => app.id === selectedId.value)) await select(apps.value[0]?.id ?? null)
  }

  async function select(id: string | null) {
    selectedId.value = id
    grants.value = []
    if (id) await attempt(async () => (grants.value = await appsApi.fetchGrants(id)))
  }

  const create = (request: Omit<appsApi.NewApp, 'group'>) =>
    attempt(async () => {
      secret.value = await appsApi.createApp({ ...request, id: request.id.trim(), group: group.value! })
      apps.value = await appsApi.fetchApps(group.value!)
      await select(secret.value.app.id)
    })

  /** How long the selected application's raw messages are kept; `null` is the hub's default. */
  const setRetention = (days: number | null) =>
    attempt(async () => {
      const updated = await appsApi.updateApp(selectedId.value!, { message_retention_days: days })
      apps.value = apps.value.map((app) => (app.id === updated.id ? updated : app))
    })

  const rotate = (id: string) => attempt(async () => (secret.value = await appsApi.rotateAppSecret(id)))

  const setGrant = (user: string, permission: string) =>
    attempt(async () => {
      await appsApi.setGrant(selectedId.value!, user.trim(), permission)
      grants.value = await appsApi.fetchGrants(selectedId.value!)
    })

  const removeGrant = (user: string) =>
    attempt(async () => {
      await appsApi.removeGrant(selectedId.value!, user)
      grants.value = await appsApi.fetchGrants(selectedId.value!)
    })

  return { group, apps, selectedId, selected, grants, secret, error, load, select, create, rotate, setRetention, setGrant, removeGrant }
})

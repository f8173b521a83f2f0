/** The groups page: the members of one group, and who may change them. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import * as groupsApi from '@/api/groups'
import { StoreId } from '@/enum'
import type { Group, Membership } from '@/types/models'
import { errorText } from '@/utils/error'
import { useAuthStore } from './auth'

/** Owners and admins of a group change its members (the hub checks it again). */
export const canManageGroup = (group: Pick<Group, 'my_role'> | null | undefined) =>
  group?.my_role === 'owner' || group?.my_role === 'admin'

export const useGroupStore = defineStore(StoreId.Groups, () => {
  const auth = useAuthStore()
  const selectedId = ref<string | null>(null)
  const members = ref<Membership[]>([])
  const error = ref('')

  const selected = computed(() => auth.groups.find((group) => group.id === selectedId.value) ?? null)
  const canManage = computed(() => canManageGroup(selected.value))

  /** Runs `action`; a failure becomes `error` (the API's message) and `false`. */
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

  async function select(id: string | null) {
    selectedId.value = id
    members.value = []
    if (id) await attempt(async () => (members.value = await groupsApi.fetchMembers(id)))
  }

  const reloadMembers = async () => {
    if (selectedId.value) members.value = await groupsApi.fetchMembers(selectedId.value)
  }

  const create = (id: string, name: string) =>
    attempt(async () => {
      await groupsApi.createGroup(id.trim(), name.trim())
      await auth.loadGroups()
      await select(id.trim())
    })

  const setMember = (user: string, role: string) =>
    attempt(async () => {
      await groupsApi.setMember(selectedId.value!, user.trim(), role)
      await reloadMembers()
    })

  const removeMember = (user: string) =>
    attempt(async () => {
      await groupsApi.removeMember(selectedId.value!, user)
      await reloadMembers()
    })

  return { selectedId, selected, members, error, canManage, select, create, setMember, removeMember }
})

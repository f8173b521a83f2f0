/** The current group's automations, the last run of each, and who may change them. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import * as automationsApi from '@/api/automations'
import { StoreId } from '@/enum'
import type { Automation, AutomationRun, AutomationSpec } from '@/types/automation'
import { cleanDocument } from '@/utils/automation'
import { useAuthStore } from './auth'
import { canManageGroup } from './groups'

export const useAutomationStore = defineStore(StoreId.Automations, () => {
  const auth = useAuthStore()
  const automations = ref<Automation[]>([])
  /** The newest run of each automation, by id (absent: never ran). */
  const lastRuns = ref<Record<string, AutomationRun | undefined>>({})
  const loading = ref(false)
  const loadedGroup = ref<string | null>(null)

  /** Group admins and owners change automations (hub admins count as owners); the hub checks again. */
  const canWrite = computed(() => Boolean(auth.user?.is_admin) || canManageGroup(auth.currentGroup))

  async function load(group: string | null) {
    loading.value = true
    try {
      const list = group ? await automationsApi.fetchAutomations(group) : []
      automations.value = list.sort((a, b) => a.name.localeCompare(b.name))
      loadedGroup.value = group
      await Promise.all(list.map((automation) => refreshLastRun(automation.id)))
    } finally {
      loading.value = false
    }
  }

  async function refreshLastRun(id: string) {
    const runs = await automationsApi.fetchRuns(id, 1).catch(() => [])
    lastRuns.value[id] = runs[0]
  }

  function upsert(automation: Automation) {
    const index = automations.value.findIndex((known) => known.id === automation.id)
    if (index >= 0) automations.value[index] = automation
    else automations.value.push(automation)
  }

  async function setEnabled(id: string, enabled: boolean) {
    upsert(await (enabled ? automationsApi.enableAutomation(id) : automationsApi.disableAutomation(id)))
  }

  /** Creates (no id) or replaces an automation; the hub's 422 names the field it refuses. */
  async function save(id: string | null, document: AutomationSpec): Promise<Automation> {
    const clean = cleanDocument(document)
    const saved = id ? await automationsApi.updateAutomation(id, clean) : await automationsApi.createAutomation(clean)
    upsert(saved)
    return saved
  }

  async function remove(id: string) {
    await automationsApi.removeAutomation(id)
    automations.value = automations.value.filter((automation) => automation.id !== id)
    delete lastRuns.value[id]
  }

  /**
   * Starts a run; the hub answers at once and the run goes on there, so its status is
   * asked for again each second until it ends (a minute at most; a longer run shows
   * when the list is next loaded).
   */
  async function runNow(id: string, everyMs = 1000, tries = 60) {
    const started = await automationsApi.runAutomation(id)
    void (async () => {
      for (let attempt = 0; attempt < tries; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, everyMs))
        await refreshLastRun(id)
        const run = lastRuns.value[id]
        if (run?.id === started.run && run.status !== 'running') return
      }
    })()
    return started
  }

  return { automations, lastRuns, loading, loadedGroup, canWrite, load, refreshLastRun, setEnabled, save, remove, runNow }
})

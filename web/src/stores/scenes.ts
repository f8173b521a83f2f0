/** The current group's scenes and the outcome of the last apply of each. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import * as scenesApi from '@/api/scenes'
import { StoreId } from '@/enum'
import type { Scene, SceneApplyResult, SceneSpec } from '@/types/automation'
import { useAuthStore } from './auth'
import { canManageGroup } from './groups'

export const useSceneStore = defineStore(StoreId.Scenes, () => {
  const auth = useAuthStore()
  const scenes = ref<Scene[]>([])
  const outcomes = ref<Record<string, SceneApplyResult | undefined>>({})
  const applying = ref<Record<string, boolean>>({})
  const loading = ref(false)

  const canWrite = computed(() => Boolean(auth.user?.is_admin) || canManageGroup(auth.currentGroup))

  async function load(group: string | null) {
    loading.value = true
    try {
      scenes.value = (group ? await scenesApi.fetchScenes(group) : []).sort((a, b) => a.name.localeCompare(b.name))
    } finally {
      loading.value = false
    }
  }

  async function save(id: string | null, spec: SceneSpec): Promise<Scene> {
    const saved = id ? await scenesApi.updateScene(id, spec) : await scenesApi.createScene(spec)
    const index = scenes.value.findIndex((scene) => scene.id === saved.id)
    if (index >= 0) scenes.value[index] = saved
    else scenes.value.push(saved)
    return saved
  }

  async function remove(id: string) {
    await scenesApi.removeScene(id)
    scenes.value = scenes.value.filter((scene) => scene.id !== id)
    delete outcomes.value[id]
  }

  /** Applies a scene; the answer waits for the devices, so the outcome is per device. */
  async function apply(id: string): Promise<SceneApplyResult> {
    applying.value[id] = true
    try {
      const outcome = await scenesApi.applyScene(id)
      outcomes.value[id] = outcome
      return outcome
    } finally {
      applying.value[id] = false
    }
  }

  return { scenes, outcomes, applying, loading, canWrite, load, save, remove, apply }
})

/** The current group's alert rules and who may change them (group admins and owners). */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import * as alertsApi from '@/api/alerts'
import { StoreId } from '@/enum'
import type { AlertRule, AlertRuleSpec } from '@/types/alert'
import { cleanRuleDocument, ruleDocumentOf } from '@/utils/alert'
import { useAuthStore } from './auth'
import { canManageGroup } from './groups'

export const useAlertRuleStore = defineStore(StoreId.AlertRules, () => {
  const auth = useAuthStore()
  const rules = ref<AlertRule[]>([])
  const loading = ref(false)

  /** Group admins and owners change rules (hub admins count as owners); the hub checks again. */
  const canWrite = computed(() => Boolean(auth.user?.is_admin) || canManageGroup(auth.currentGroup))

  async function load(group: string | null) {
    loading.value = true
    try {
      const list = group ? await alertsApi.fetchAlertRules(group) : []
      rules.value = list.sort((a, b) => a.name.localeCompare(b.name))
    } finally {
      loading.value = false
    }
  }

  function upsert(rule: AlertRule) {
    const index = rules.value.findIndex((known) => known.id === rule.id)
    if (index >= 0) rules.value[index] = rule
    else rules.value.push(rule)
  }

  /** Creates (no id) or replaces a rule; the hub's 422 names the field it refuses. */
  async function save(id: string | null, document: AlertRuleSpec): Promise<AlertRule> {
    const clean = cleanRuleDocument(document)
    const saved = id ? await alertsApi.updateAlertRule(id, clean) : await alertsApi.createAlertRule(clean)
    upsert(saved)
    return saved
  }

  async function setEnabled(rule: AlertRule, enabled: boolean) {
    return save(rule.id, { ...ruleDocumentOf(rule), enabled })
  }

  async function remove(id: string) {
    await alertsApi.removeAlertRule(id)
    rules.value = rules.value.filter((rule) => rule.id !== id)
  }

  return { rules, loading, canWrite, load, save, setEnabled, remove }
})

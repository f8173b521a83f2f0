/** The audit log, newest first, a page at a time (`before` = the oldest sequence shown). */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { fetchAudit } from '@/api/audit'
import { StoreId } from '@/enum'
import type { AuditEntry } from '@/types/models'
import { errorText } from '@/utils/error'

export const AUDIT_PAGE = 50

export const useAuditStore = defineStore(StoreId.Audit, () => {
  const entries = ref<AuditEntry[]>([])
  const target = ref('')
  /** Whether the last page was full, so an older one may exist. */
  const hasMore = ref(false)
  const loading = ref(false)
  const error = ref('')

  async function page(before?: number) {
    loading.value = true
    error.value = ''
    try {
      const rows = await fetchAudit({ target: target.value.trim() || undefined, before, limit: AUDIT_PAGE })
      entries.value = before === undefined ? rows : [...entries.value, ...rows]
      hasMore.value = rows.length === AUDIT_PAGE
    } catch (caught) {
      error.value = errorText(caught)
      hasMore.value = false
    } finally {
      loading.value = false
    }
  }

  /** The newest page for the current filter. */
  const load = () => page()

  /** The next older page. */
  async function more() {
    const oldest = entries.value.at(-1)
    if (oldest) await page(oldest.seq)
  }

  return { entries, target, hasMore, loading, error, load, more }
})

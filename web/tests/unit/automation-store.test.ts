// The automations store: what it sends the hub, and following a run started now.
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { Automation, AutomationRun } from '@/types/automation'

vi.mock('@/api/automations', () => ({
  fetchAutomations: vi.fn(async () => []),
  fetchRuns: vi.fn(async () => []),
  createAutomation: vi.fn(),
  updateAutomation: vi.fn(),
  enableAutomation: vi.fn(),
  disableAutomation: vi.fn(),
  removeAutomation: vi.fn(),
  runAutomation: vi.fn(),
}))

const api = await import('@/api/automations')
const { useAutomationStore } = await import('@/stores/automations')

const stored: Automation = {
  id: 'a-1', created_by: 'admin', created_at_ms: 1, updated_at_ms: 1, group: 'home', name: 'Dinner bell',
  enabled: true, triggers: [{ type: 'manual' }], conditions: [], actions: [{ type: 'notify', message: 'Dinner' }],
}
const run = (status: string): AutomationRun => ({ id: 'r-1', automation_id: 'a-1', started_at_ms: 1, status, trigger: { type: 'manual' }, trace: {} })

describe('the automations store', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    vi.clearAllMocks()
  })

  it('sends a clean document and keeps what the hub answers', async () => {
    const store = useAutomationStore()
    vi.mocked(api.createAutomation).mockResolvedValueOnce(stored)
    await store.save(null, { ...stored, max_runs: undefined, conditions: [{ type: 'time', after: '', before: '06:00' }] })
    expect(vi.mocked(api.createAutomation).mock.calls[0][0]).toMatchObject({ conditions: [{ type: 'time', before: '06:00' }] })
    expect('max_runs' in vi.mocked(api.createAutomation).mock.calls[0][0]).toBe(false)
    expect(store.automations).toEqual([stored])
    vi.mocked(api.disableAutomation).mockResolvedValueOnce({ ...stored, enabled: false })
    await store.setEnabled('a-1', false)
    expect(store.automations[0].enabled).toBe(false)
  })

  it('follows a run started now until it ends', async () => {
    const store = useAutomationStore()
    vi.mocked(api.runAutomation).mockResolvedValueOnce({ run: 'r-1' })
    vi.mocked(api.fetchRuns).mockResolvedValueOnce([]).mockResolvedValueOnce([run('running')]).mockResolvedValue([run('done')])
    await store.runNow('a-1', 0, 10)
    await vi.waitFor(() => expect(store.lastRuns['a-1']?.status).toBe('done'))
    expect(vi.mocked(api.fetchRuns)).toHaveBeenCalledWith('a-1', 1)
  })
})

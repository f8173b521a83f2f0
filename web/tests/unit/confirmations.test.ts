// The confirmation gate's prompt: who is asked, what everyone sees, and live updates.
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { Confirmation } from '@/types/automation'

vi.mock('@/api/confirmations', () => ({
  fetchConfirmations: vi.fn(async () => []),
  confirmRequest: vi.fn(),
  refuseRequest: vi.fn(),
}))

const { awaitingAnswer, onShow, OUTCOME_SHOWN_MS, useConfirmationStore } = await import('@/stores/confirmations')
const api = await import('@/api/confirmations')

const NOW = 1_000_000
const request = (patch: Partial<Confirmation> = {}): Confirmation => ({
  id: 'cf-1', group: 'home', automation: 'a-1', automation_name: 'Front door', run: 'r-1', prompt: 'Open the front door?',
  people: 2, within_secs: 35, created_at_ms: NOW - 5_000, expires_at_ms: NOW + 30_000, state: 'pending',
  confirmed_by: [], refused_by: [], eligible: true, ...patch,
})

describe('confirmation requests', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('asks eligible people who have not answered, while it is pending', () => {
    expect(awaitingAnswer([request()], 'alice', NOW)).toHaveLength(1)
    expect(awaitingAnswer([request({ confirmed_by: ['alice'] })], 'alice', NOW)).toHaveLength(0)
    expect(awaitingAnswer([request({ eligible: false })], 'alice', NOW)).toHaveLength(0)
    expect(awaitingAnswer([request({ state: 'confirmed' })], 'alice', NOW)).toHaveLength(0)
    expect(awaitingAnswer([request({ expires_at_ms: NOW - 1 })], 'alice', NOW)).toHaveLength(0)
  })

  it('shows an outcome for a while after it is decided', () => {
    const ended = request({ state: 'expired' })
    expect(onShow([ended], NOW, { 'cf-1': NOW - 1_000 })).toHaveLength(1)
    expect(onShow([ended], NOW, { 'cf-1': NOW - OUTCOME_SHOWN_MS - 1 })).toHaveLength(0)
  })

  it('takes live updates, keeping the person\'s eligibility from the API', async () => {
    const store = useConfirmationStore()
    store.upsert(request())
    store.applyMessage(JSON.stringify(request({ confirmed_by: ['alice'], eligible: false })), NOW)
    expect(store.requests[0]).toMatchObject({ confirmed_by: ['alice'], eligible: true })
    store.applyMessage(JSON.stringify(request({ state: 'confirmed', confirmed_by: ['alice', 'bob'] })), NOW)
    expect(store.requests[0].state).toBe('confirmed')
    expect(store.endedAt['cf-1']).toBe(NOW)
    store.applyMessage('not json', NOW)
    store.applyMessage('{"id": 3}', NOW)
    expect(store.requests).toHaveLength(1)
  })

  it('asks the API about a request it first hears of live (eligibility is per person)', async () => {
    const store = useConfirmationStore()
    vi.mocked(api.fetchConfirmations).mockResolvedValueOnce([request({ id: 'cf-2', eligible: true })])
    store.applyMessage(JSON.stringify(request({ id: 'cf-2', eligible: false })), NOW)
    expect(store.requests[0].eligible).toBe(false)
    await vi.waitFor(() => expect(store.requests[0].eligible).toBe(true))
  })

  it('confirming stores the hub\'s answer; a refusal shows the hub\'s words', async () => {
    const store = useConfirmationStore()
    store.upsert(request())
    vi.mocked(api.confirmRequest).mockResolvedValueOnce(request({ confirmed_by: ['alice'] }))
    await store.answer('cf-1', true)
    expect(store.requests[0].confirmed_by).toEqual(['alice'])
    vi.mocked(api.refuseRequest).mockRejectedValueOnce(new Error('no longer pending'))
    await store.answer('cf-1', false)
    expect(store.error['cf-1']).toBe('no longer pending')
  })
})

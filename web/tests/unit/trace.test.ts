// A run's record as the run history shows it (the shapes the engine writes).
import { describe, expect, it } from 'vitest'
import type { AutomationRun } from '@/types/automation'
import { describeAction, describeCondition, describeTrigger, formatDuration, offsetText, runDurationMs, traceLines } from '@/utils/trace'

const RUN: AutomationRun = {
  id: 'r-1',
  automation_id: 'a-1',
  started_at_ms: 1_000,
  finished_at_ms: 1_240,
  status: 'done',
  trigger: { type: 'reading', index: 0, device: 'hall-motion', metric: 'motion', value: true, at_ms: 1_000 },
  trace: {
    conditions: [{ path: 'conditions[0]', type: 'time', seen: '22:01', weekday: 'sun', utc_offset_minutes: 120, passed: true }],
    actions: [{ type: 'command', device: 'hall-lamp', name: 'switch', command: 'c-1', result: 'acked', answer: null, index: 0, duration_ms: 212 }],
  },
}

describe('the run history', () => {
  it('says what triggered a run', () => {
    expect(describeTrigger(RUN.trigger)).toBe('reading hall-motion motion = true')
    expect(describeTrigger({ type: 'manual', by: 'admin', at_ms: 1 })).toBe('manual by admin')
    expect(describeTrigger({ type: 'presence', device: 'phone', online: false })).toBe('presence phone offline')
    expect(describeTrigger({ type: 'command', device: 'lock', name: 'unlock', status: 'failed' })).toBe('command lock unlock failed')
    expect(describeTrigger({ type: 'time', index: 0, cron: '0 7 * * mon-fri', scheduled_at_ms: 1 })).toBe('time 0 7 * * mon-fri')
    expect(describeTrigger({ type: 'sun', event: 'sunset', offset_secs: -1800 })).toBe('sun sunset -1800 s')
    expect(describeTrigger({ type: 'webhook', body: { from: 'doorbell' } })).toBe('webhook')
    expect(describeTrigger(null)).toBe('')
  })

  it('shows each condition with the value it saw', () => {
    expect(describeCondition(RUN.trace.conditions![0])).toEqual({ path: 'conditions[0]', text: 'time 22:01 sun UTC+02:00', passed: true })
    expect(describeCondition({ path: 'conditions[1]', type: 'reading', device: 't1', metric: 'temperature', seen: 19.5, passed: false }))
      .toEqual({ path: 'conditions[1]', text: 'reading t1 temperature: 19.5', passed: false })
    expect(describeCondition({ path: 'c', type: 'reading', device: 't1', metric: 'temperature', seen: null, passed: false }).text).toBe('reading t1 temperature: —')
    expect(describeCondition({ path: 'c', type: 'presence', device: 'phone', seen: 'offline', passed: true }).text).toBe('presence phone: offline')
  })

  it('shows each action with its result and duration', () => {
    expect(describeAction(RUN.trace.actions![0])).toEqual({ index: 0, type: 'command', text: 'command hall-lamp switch', result: 'acked', ok: true, durationMs: 212 })
    expect(describeAction({ type: 'command', device: 'lamp', name: 'switch', result: 'timeout' }).ok).toBe(false)
    expect(describeAction({ type: 'command', device: 'lamp', name: 'switch', result: 'refused', error: 'disabled' })).toMatchObject({ ok: false, result: 'refused: disabled' })
    expect(describeAction({ type: 'scene', scene: 's-1', result: '4/5 confirmed, lamp-3 timeout' })).toMatchObject({ text: 'scene s-1', ok: true })
    expect(describeAction({ type: 'notify', message: 'Hi', result: 'published' }).text).toBe('notify “Hi”')
    expect(describeAction({ type: 'delay', seconds: 30, result: 'waited' }).text).toBe('delay 30 s')
    expect(describeAction({ type: 'confirm', request: 'c-1', result: 'confirmed', people: 2, confirmed_by: ['alice', 'bob'], refused_by: [] }))
      .toMatchObject({ text: 'confirm 2/2 (alice, bob)', ok: true })
    expect(describeAction({ type: 'confirm', result: 'expired', people: 2, confirmed_by: [] })).toMatchObject({ text: 'confirm 0/2', ok: false })
    expect(describeAction({ type: 'wait_for', result: 'timed out', timeout_secs: 60 })).toMatchObject({ text: 'wait_for 60 s', ok: false })
    expect(describeAction({ type: 'wait_for', result: 'triggered', seen: { type: 'presence', device: 'door', online: true } }).text).toBe('wait_for presence door online')
  })

  it('lists the whole trace, and a skipped run\'s reason', () => {
    const lines = traceLines(RUN)
    expect(lines.conditions).toHaveLength(1)
    expect(lines.actions.map((line) => line.text)).toEqual(['command hall-lamp switch'])
    expect(traceLines({ ...RUN, status: 'skipped', trace: { conditions: [], actions: [], reason: 'a condition did not hold' } }).reason).toBe('a condition did not hold')
    expect(traceLines({ ...RUN, trace: {} })).toEqual({ conditions: [], actions: [], reason: '' })
  })

  it('measures and formats durations', () => {
    expect(runDurationMs(RUN)).toBe(240)
    expect(runDurationMs({ started_at_ms: 1, finished_at_ms: null })).toBeNull()
    expect(formatDuration(240)).toBe('240 ms')
    expect(formatDuration(2_500)).toBe('2.5 s')
    expect(formatDuration(30_000)).toBe('30 s')
    expect(formatDuration(185_000)).toBe('3 min 5 s')
    expect(formatDuration(120_000)).toBe('2 min')
    expect(formatDuration(null)).toBe('—')
    expect(offsetText(-330)).toBe('-05:30')
  })
})

import { describe, expect, it } from 'vitest'
import { timeAgo } from '@/utils/format'

const now = 1_750_000_000_000
const en = { never: 'never', justNow: 'just now' }
const zh = { never: '从未', justNow: '刚刚' }

describe('timeAgo', () => {
  it('never reads a moment ago as a future time, whatever the clocks\' rounding or skew', () => {
    for (const aheadMs of [1, 400, 500, 1_000, 1_499, 1_500, 4_999, 60_000, 3_600_000]) {
      expect(timeAgo(now + aheadMs, 'en', en, now)).toBe('just now')
      expect(timeAgo(now + aheadMs, 'zh-CN', zh, now)).toBe('刚刚')
    }
    for (const agoMs of [0, 1, 499, 500, 1_000, 9_999]) {
      expect(timeAgo(now - agoMs, 'en', en, now)).toBe('just now')
    }
  })

  it('says how long ago in the past tense', () => {
    expect(timeAgo(now - 12_000, 'en', en, now)).toBe('12 seconds ago')
    expect(timeAgo(now - 59_999, 'en', en, now)).toBe('59 seconds ago')
    expect(timeAgo(now - 5 * 60_000, 'en', en, now)).toBe('5 minutes ago')
    expect(timeAgo(now - 3 * 3_600_000, 'en', en, now)).toBe('3 hours ago')
    expect(timeAgo(now - 3 * 86_400_000, 'en', en, now)).toBe('3 days ago')
    expect(timeAgo(now - 5 * 60_000, 'zh-CN', zh, now)).toBe('5分钟前')
  })

  it('says never for a device never seen', () => {
    expect(timeAgo(null, 'en', en, now)).toBe('never')
    expect(timeAgo(undefined, 'zh-CN', zh, now)).toBe('从未')
  })
})

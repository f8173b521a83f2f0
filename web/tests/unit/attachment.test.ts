// Where a device that moves between a home hub and the cloud is attached (issue 20),
// as the device page says it, in both languages.
import { describe, expect, it } from 'vitest'
import { i18n } from '@/locales'
import type { DeviceLive } from '@/types/models'
import { attachmentText } from '@/utils/attachment'

const t = (key: string, named?: Record<string, unknown>) => i18n.global.t(key, named ?? {})
const live = (is_online: boolean, attached_via: string | null) => ({ is_online, attached_via }) as DeviceLive

describe('a device\'s attachment', () => {
  it('names its own connection or its site, in English and Chinese', () => {
    i18n.global.locale.value = 'en'
    expect(attachmentText(live(true, 'direct'), t)).toBe('Connected to this hub directly')
    expect(attachmentText(live(true, 'home-1'), t)).toBe('Through site home-1')
    i18n.global.locale.value = 'zh-CN'
    expect(attachmentText(live(true, 'direct'), t)).toBe('直接连接本中心')
    expect(attachmentText(live(true, 'home-1'), t)).toBe('经站点 home-1 转发')
    i18n.global.locale.value = 'en'
  })

  it('says nothing when offline or not known', () => {
    expect(attachmentText(live(false, 'direct'), t)).toBeNull()
    expect(attachmentText(live(true, null), t)).toBeNull()
    expect(attachmentText({ is_online: true } as DeviceLive, t)).toBeNull()
  })
})

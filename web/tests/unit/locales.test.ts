import { describe, expect, it } from 'vitest'
import en from '@/locales/en.json'
import zhCN from '@/locales/zh-CN.json'
import { detectLocale } from '@/locales'

function keys(messages: object, prefix = ''): string[] {
  return Object.entries(messages).flatMap(([key, value]) =>
    typeof value === 'object' ? keys(value, `${prefix}${key}.`) : [`${prefix}${key}`],
  )
}

describe('locales', () => {
  it('has every English message in Chinese and no more', () => {
    expect(keys(zhCN).sort()).toEqual(keys(en).sort())
  })

  it('defaults from the browser language', () => {
    expect(detectLocale(['zh-CN', 'en'])).toBe('zh-CN')
    expect(detectLocale(['zh-Hans'])).toBe('zh-CN')
    expect(detectLocale(['en-GB', 'zh-CN'])).toBe('en')
    expect(detectLocale(['fr-FR'])).toBe('en')
  })
})

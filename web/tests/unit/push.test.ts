// Web Push helpers (issue 15): the VAPID key as bytes, and what the browser offers.
import { describe, expect, it } from 'vitest'
import { base64UrlToBytes, pushUnsupported } from '@/utils/push'

describe('Web Push', () => {
  it('reads a base64url key with or without padding', () => {
    expect([...base64UrlToBytes('AQID')]).toEqual([1, 2, 3])
    expect([...base64UrlToBytes('-_8')]).toEqual([251, 255])
    expect([...base64UrlToBytes('-_8=')]).toEqual([251, 255])
    // A P-256 public key: 65 bytes, the first 0x04 (uncompressed).
    const key = `BA${'A'.repeat(85)}`
    const bytes = base64UrlToBytes(key)
    expect(bytes.length).toBe(65)
    expect(bytes[0]).toBe(4)
  })

  it('says when the browser has no Push API', () => {
    // happy-dom has no PushManager.
    expect(pushUnsupported()).toBe('unsupported')
  })
})

// The login page's identity-provider buttons (issue 23): one per provider the hub lists,
// linking to the hub's start URL, none when the hub has none; a failed callback's code
// (/login?oidc_error=...) worded in English and Chinese, with the provider's own code.
import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { i18n } from '@/locales'
import OidcSignIn from '@/views/login/modules/OidcSignIn.vue'

function hub(providers: unknown, status = 200) {
  const fetch = vi.fn(async (_url: string) => new Response(JSON.stringify(providers), { status }))
  vi.stubGlobal('fetch', fetch)
  return fetch
}

afterEach(() => {
  i18n.global.locale.value = 'en'
  vi.unstubAllGlobals()
})

describe('OidcSignIn', () => {
  it('shows a button per provider, linking to the hub start URL', async () => {
    const fetch = hub([{ id: 'keycloak', name: 'Family Keycloak' }, { id: 'google', name: 'Google' }])
    const wrapper = mount(OidcSignIn, { global: { plugins: [i18n] } })
    await flushPromises()
    expect(fetch.mock.calls[0]?.[0]).toBe('/api/v1/auth/oidc/providers')
    const buttons = wrapper.findAll('a.oidc-button')
    expect(buttons.map((b) => b.text())).toEqual(['Sign in with Family Keycloak', 'Sign in with Google'])
    expect(buttons.map((b) => b.attributes('href'))).toEqual(['/api/v1/auth/oidc/keycloak/start', '/api/v1/auth/oidc/google/start'])
    expect(wrapper.find('[data-test="oidc-error"]').exists()).toBe(false)
  })

  it('asks the hub to come back to the page the login was for', async () => {
    hub([{ id: 'test', name: 'Test ID' }])
    const wrapper = mount(OidcSignIn, { props: { redirect: '/claim?device=lock-1&code=AB CD' }, global: { plugins: [i18n] } })
    await flushPromises()
    expect(wrapper.find('a.oidc-button').attributes('href')).toBe(
      '/api/v1/auth/oidc/test/start?return_to=%2Fclaim%3Fdevice%3Dlock-1%26code%3DAB%20CD',
    )
  })

  it('shows nothing when the hub has no providers or cannot say', async () => {
    hub([])
    const none = mount(OidcSignIn, { global: { plugins: [i18n] } })
    await flushPromises()
    expect(none.findAll('a.oidc-button')).toHaveLength(0)
    expect(none.text()).toBe('')
    hub({ error: { code: 'internal', message: 'x' } }, 500)
    const broken = mount(OidcSignIn, { global: { plugins: [i18n] } })
    await flushPromises()
    expect(broken.findAll('a.oidc-button')).toHaveLength(0)
  })

  it('words a failed sign-in in English and Chinese, with the provider code', async () => {
    hub([{ id: 'test', name: 'Test ID' }])
    const wrapper = mount(OidcSignIn, {
      props: { error: 'provider_refused', detail: 'invalid_grant' },
      global: { plugins: [i18n] },
    })
    await flushPromises()
    const alert = () => wrapper.find('[data-test="oidc-error"]').text()
    expect(alert()).toContain('refused to finish the sign-in')
    expect(alert()).toContain('(the provider said: invalid_grant)')
    i18n.global.locale.value = 'zh-CN'
    await flushPromises()
    expect(alert()).toContain('身份提供方拒绝完成登录')
    expect(alert()).toContain('invalid_grant')
    expect(wrapper.find('a.oidc-button').text()).toBe('使用 Test ID 登录')
  })

  it('falls back to a general message for an unknown code and drops an odd detail', async () => {
    hub([])
    const wrapper = mount(OidcSignIn, {
      props: { error: 'something_new', detail: '<script>' },
      global: { plugins: [i18n] },
    })
    await flushPromises()
    const text = wrapper.find('[data-test="oidc-error"]').text()
    expect(text).toContain('could not finish the sign-in')
    expect(text).not.toContain('<script>')
  })
})

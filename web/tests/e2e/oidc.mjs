// Signing in with an identity provider in the web app (issue 23), in a real headless
// Chromium against the real hub started with [[oidc.providers]] pointing at a small
// provider on loopback (oidc-provider.mjs, RS256 with a key made at start): the login
// page shows "Sign in with Test ID"; clicking it goes through the provider and back, and
// the person is signed in (registered into group home as a member, since the provider's
// registration is on), and later comes back to the page the login was for; then a
// sign-in the provider refuses lands on the login page with
// the reason, in English and in Chinese. Every wait is for a condition; no fixed ports.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { launch } from './browser.mjs'
import { startHub } from './hub.mjs'
import { startProvider } from './oidc-provider.mjs'

const WAIT = { timeout: 30_000 }
const CLIENT_ID = 'hearth-e2e'
const CLIENT_SECRET = 'e2e-client-secret-0123456789'

let provider, hub, browser

before(async () => {
  provider = await startProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })
  hub = await startHub({
    config: [
      '[[oidc.providers]]',
      'id = "test"',
      'name = "Test ID"',
      `issuer = "${provider.issuer}"`,
      `client_id = "${CLIENT_ID}"`,
      `client_secret = "${CLIENT_SECRET}"`,
      'allow_registration = true',
      'register_group = "home"',
      'register_role = "member"',
      '',
    ].join('\n'),
  })
  browser = await launch()
})

after(async () => {
  await browser?.close()
  await hub?.stop()
  await provider?.stop()
})

async function page(locale) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale })
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  return page
}

test('a person signs in with the identity provider by clicking its button', async () => {
  provider.person = { sub: 'sub-jane', email: 'jane@example.org', email_verified: true, preferred_username: 'jane', name: 'Jane Doe' }
  const tab = await page('en-US')
  await tab.goto(`${hub.http}/login`)
  const button = tab.locator('[data-test="oidc-test"]')
  await button.waitFor(WAIT)
  assert.equal((await button.textContent()).trim(), 'Sign in with Test ID')
  await button.click()
  await tab.waitForURL((url) => url.pathname === '/', WAIT)
  const me = await (await tab.request.get(`${hub.http}/api/v1/auth/me`)).json()
  assert.equal(me.user.name, 'jane')
  assert.equal(me.user.display_name, 'Jane Doe')
  assert.deepEqual(me.memberships.map((m) => [m.group, m.role]), [['home', 'member']])
  // The session is the password login's: logging out ends it.
  const out = await tab.request.post(`${hub.http}/api/v1/auth/logout`, { headers: { Origin: hub.http } })
  assert.equal(out.status(), 204)
  assert.equal((await tab.request.get(`${hub.http}/api/v1/auth/me`)).status(), 401)
  // Signing in again goes by the stored link, and back to the page the login was for.
  await tab.goto(`${hub.http}/profile`)
  await tab.waitForURL((url) => url.pathname === '/login' && url.searchParams.get('redirect') === '/profile', WAIT)
  await tab.locator('[data-test="oidc-test"]').click()
  await tab.waitForURL((url) => url.pathname === '/profile', WAIT)
  assert.equal((await (await tab.request.get(`${hub.http}/api/v1/auth/me`)).json()).user.name, 'jane')
  await tab.context().close()
})

test('a sign-in the provider refuses comes back to the login page with the reason', async () => {
  for (const [locale, words] of [['en-US', 'refused to finish the sign-in'], ['zh-CN', '身份提供方拒绝完成登录']]) {
    provider.refuseNext = 'invalid_grant'
    const tab = await page(locale)
    await tab.goto(`${hub.http}/login`)
    await tab.locator('[data-test="oidc-test"]').click()
    await tab.waitForURL((url) => url.pathname === '/login' && url.searchParams.get('oidc_error') === 'provider_refused', WAIT)
    const alert = tab.locator('[data-test="oidc-error"]')
    await alert.waitFor(WAIT)
    const text = await alert.textContent()
    assert.ok(text.includes(words) && text.includes('invalid_grant'), text)
    assert.equal((await tab.request.get(`${hub.http}/api/v1/auth/me`)).status(), 401)
    await tab.context().close()
  }
  assert.deepEqual(provider.refusals, ['invalid_grant', 'invalid_grant'])
})

// A small OpenID Connect provider for the web app's sign-in test (issue 23), in Node on
// 127.0.0.1 and port 0: discovery, JWKS, an authorization endpoint that signs `person`
// in at once and redirects back with a code, and a token endpoint that checks the
// client's secret (client_secret_basic), the code (single use), the redirect URI and the
// PKCE verifier, then returns an ID token signed RS256 with an RSA key made at start.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { createServer } from 'node:http'

const b64url = (data) => Buffer.from(data).toString('base64url')

export async function startProvider({ clientId, clientSecret }) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'e2e-1', alg: 'RS256', use: 'sig' }
  const codes = new Map()
  const provider = {
    issuer: '',
    /** Who signs in next: `{ sub, email, email_verified, preferred_username, name }`. */
    person: null,
    /** The token endpoint's refusals, in order. */
    refusals: [],
    /** When set, the next token request is refused with this error code. */
    refuseNext: null,
  }
  const json = (response, status, body) => {
    response.writeHead(status, { 'content-type': 'application/json' })
    response.end(JSON.stringify(body))
  }
  const refuse = (response, error) => {
    provider.refusals.push(error)
    json(response, 400, { error })
  }
  const server = createServer((request, response) => {
    const url = new URL(request.url, provider.issuer)
    if (request.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      return json(response, 200, {
        issuer: provider.issuer,
        authorization_endpoint: `${provider.issuer}/authorize`,
        token_endpoint: `${provider.issuer}/token`,
        jwks_uri: `${provider.issuer}/jwks`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        id_token_signing_alg_values_supported: ['RS256'],
      })
    }
    if (request.method === 'GET' && url.pathname === '/jwks') return json(response, 200, { keys: [jwk] })
    if (request.method === 'GET' && url.pathname === '/authorize') {
      const q = url.searchParams
      if (q.get('client_id') !== clientId || q.get('code_challenge_method') !== 'S256' || !q.get('scope')?.split(' ').includes('openid')) {
        return json(response, 400, { error: 'invalid_request' })
      }
      const code = b64url(randomBytes(16))
      codes.set(code, { nonce: q.get('nonce'), challenge: q.get('code_challenge'), redirect: q.get('redirect_uri'), person: provider.person, used: false })
      const back = new URL(q.get('redirect_uri'))
      back.searchParams.set('code', code)
      back.searchParams.set('state', q.get('state'))
      response.writeHead(302, { location: back.toString() })
      return response.end()
    }
    if (request.method === 'POST' && url.pathname === '/token') {
      let body = ''
      request.on('data', (chunk) => { body += chunk })
      request.on('end', () => {
        const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`
        if (request.headers.authorization !== basic) return refuse(response, 'invalid_client')
        if (provider.refuseNext) {
          const error = provider.refuseNext
          provider.refuseNext = null
          return refuse(response, error)
        }
        const form = new URLSearchParams(body)
        const grant = codes.get(form.get('code') ?? '')
        if (!grant || grant.used) return refuse(response, 'invalid_grant')
        grant.used = true
        const challenge = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url')
        if (challenge !== grant.challenge || form.get('redirect_uri') !== grant.redirect) return refuse(response, 'invalid_grant')
        const now = Math.floor(Date.now() / 1000)
        const claims = { iss: provider.issuer, aud: clientId, iat: now, exp: now + 300, nonce: grant.nonce, ...grant.person }
        const signed = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'e2e-1' }))}.${b64url(JSON.stringify(claims))}`
        const signature = sign('sha256', Buffer.from(signed), privateKey).toString('base64url')
        json(response, 200, { access_token: 'unused', token_type: 'Bearer', expires_in: 300, id_token: `${signed}.${signature}` })
      })
      return
    }
    json(response, 404, { error: 'not_found' })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  provider.issuer = `http://127.0.0.1:${server.address().port}`
  provider.stop = () => new Promise((resolve) => server.close(resolve))
  return provider
}

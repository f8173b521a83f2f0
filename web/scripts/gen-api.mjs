// Regenerates web/openapi.json (the hub's OpenAPI document) and src/types/api.ts from it.
// Usage: `npm run gen:api` with a built hub (HEARTH_BIN, default ../target/debug/hearth
// or ../target/release/hearth), or `node scripts/gen-api.mjs --from URL`.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startHub } from '../tests/e2e/hub.mjs'

const web = fileURLToPath(new URL('..', import.meta.url))
const fromIndex = process.argv.indexOf('--from')
let document
if (fromIndex > 0) {
  document = await (await fetch(process.argv[fromIndex + 1])).json()
} else {
  const hub = await startHub()
  try {
    document = await (await fetch(`${hub.http}/api/openapi.json`)).json()
  } finally {
    await hub.stop()
  }
}
writeFileSync(`${web}/openapi.json`, `${JSON.stringify(document, null, 2)}\n`)
execFileSync('npx', ['openapi-typescript', 'openapi.json', '-o', 'src/types/api.ts'], { cwd: web, stdio: 'inherit' })

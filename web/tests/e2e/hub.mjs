// Starts the real `hearth` binary on port 0 with a throw-away data directory and a known
// owner password, and reads the addresses it prints (`--print-addrs`).
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ADMIN_PASSWORD = 'e2e-owner-password'

/** The hub binary: $HEARTH_BIN, else the newest of target/{debug,release}/hearth. */
export function hubBinary() {
  if (process.env.HEARTH_BIN) return process.env.HEARTH_BIN
  const root = fileURLToPath(new URL('../../..', import.meta.url))
  const target = process.env.CARGO_TARGET_DIR ?? join(root, 'target')
  for (const profile of ['debug', 'release']) {
    const path = join(target, profile, 'hearth')
    if (existsSync(path)) return path
  }
  throw new Error('no hearth binary: run `cargo build -p hearth` or set HEARTH_BIN')
}

/** `config`: the text of a hearth.toml for this hub (passed with `--config`). */
export async function startHub({ timeoutMs = 60_000, config } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'hearth-e2e-'))
  const passwordFile = join(dataDir, 'admin-password')
  writeFileSync(passwordFile, `${ADMIN_PASSWORD}\n`, { mode: 0o600 })
  const args = ['serve', '--data-dir', join(dataDir, 'data'), '--admin-password-file', passwordFile,
    '--http', '127.0.0.1:0', '--mqtt', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--print-addrs']
  if (config !== undefined) {
    const configFile = join(dataDir, 'hearth.toml')
    writeFileSync(configFile, config)
    args.push('--config', configFile)
  }
  const child = spawn(hubBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } })
  let log = ''
  child.stderr.on('data', (chunk) => { log += chunk })
  const addrs = await new Promise((resolve, reject) => {
    const found = {}
    let out = ''
    const timer = setTimeout(() => reject(new Error(`hub did not start in time:\n${log}`)), timeoutMs)
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`hub exited (${code}):\n${log}`)) })
    child.stdout.on('data', (chunk) => {
      out += chunk
      for (const line of out.split('\n')) {
        const match = /^(\w+)=(\S+)$/.exec(line.trim())
        if (match) found[match[1]] = match[2]
        if (line.trim() === 'ready') { clearTimeout(timer); resolve(found) }
      }
    })
  })
  return {
    http: `http://${addrs.http}`,
    mqtt: `mqtt://${addrs.mqtt}`,
    ws: addrs.ws,
    /** The hub's data directory (for commands that open its store, like `hearth simulate`). */
    dataDir: join(dataDir, 'data'),
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

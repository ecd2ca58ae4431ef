import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The setup wizard's page is a small React + Vite app in edge-agent/setup-ui, built the way the
 * hub builds its console (hub/src/console/console-build.ts): once per source change, stamped with
 * a hash of its sources, its Vite config and the versions of what it bundles; each process builds
 * into a directory of its own and moves it into place with one rename, so several agents (or
 * tests) starting at once never serve a half-written build.
 */
export const SETUP_UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../setup-ui')
export const SETUP_UI_DIST = path.join(SETUP_UI_DIR, 'dist')
const STAMP = 'build-hash.txt'
/** Libraries whose version changes what is bundled. */
const BUNDLED = ['vite', '@vitejs/plugin-react', 'react', 'react-dom']

function listFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...listFiles(full))
    else if (!/\.test\.tsx?$/.test(entry.name)) out.push(full)
  }
  return out
}

/** The hash of everything a build depends on. */
export function setupUiSourceHash(dir = SETUP_UI_DIR): string {
  const hash = createHash('sha256')
  const require = createRequire(path.join(dir, 'package.json'))
  for (const name of BUNDLED) {
    let version = 'missing'
    try {
      version = (
        JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }
      ).version
    } catch {}
    hash.update(`${name}@${version}\n`)
  }
  const files = [
    path.join(dir, 'index.html'),
    path.join(dir, 'vite.config.ts'),
    ...listFiles(path.join(dir, 'src')),
  ]
  for (const file of files.sort()) {
    hash.update(`${path.relative(dir, file)}\n`)
    hash.update(readFileSync(file))
  }
  return hash.digest('hex')
}

/** The hash the current build was made from, if there is a build. */
export function builtSetupUiHash(dist = SETUP_UI_DIST): string | undefined {
  try {
    return readFileSync(path.join(dist, STAMP), 'utf8').trim()
  } catch {
    return undefined
  }
}

export interface SetupUiBuild {
  dir: string
  /** Whether this call built it (false: the existing build was current). */
  built: boolean
}

let inProcess: Promise<SetupUiBuild> | undefined

/** Builds the wizard's page unless the existing build matches the sources. */
export function ensureSetupUiBuilt(log: (msg: string) => void = () => {}): Promise<SetupUiBuild> {
  inProcess ??= build(log).finally(() => {
    inProcess = undefined
  })
  return inProcess
}

async function build(log: (msg: string) => void): Promise<SetupUiBuild> {
  const want = setupUiSourceHash()
  if (builtSetupUiHash() === want) return { dir: SETUP_UI_DIST, built: false }
  log('building the setup wizard page (once per source change)')
  const tmp = path.join(SETUP_UI_DIR, `.dist-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    await viteBuild(tmp)
    writeFileSync(path.join(tmp, STAMP), `${want}\n`)
    const old = `${tmp}-old`
    if (existsSync(SETUP_UI_DIST)) {
      try {
        renameSync(SETUP_UI_DIST, old)
      } catch {}
    }
    try {
      renameSync(tmp, SETUP_UI_DIST)
    } catch (err) {
      if (builtSetupUiHash() !== want) throw err
    }
    rmSync(old, { recursive: true, force: true })
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  return { dir: SETUP_UI_DIST, built: true }
}

/** `vite build` in a child process: always a production build, and the agent's loop stays free. */
function viteBuild(outDir: string): Promise<void> {
  const require = createRequire(path.join(SETUP_UI_DIR, 'package.json'))
  const bin = path.join(path.dirname(require.resolve('vite/package.json')), 'bin', 'vite.js')
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [bin, 'build', SETUP_UI_DIR, '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'],
      { env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000)
    })
    child.on('error', reject)
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`building the setup wizard page failed (${code}): ${stderr.trim()}`)),
    )
  })
}

import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The web console is a React + Vite app in hub/console. It is built once per source change, not
 * per start: the build is stamped with a hash of everything that goes into it (sources, the
 * Vite config and the versions of the libraries it bundles) and rebuilt only when that hash
 * changes, so `npm install && npm start` serves it with no extra command and a second start costs
 * nothing. Several processes may start at once (tests, a hub beside the demo): each builds into a
 * directory of its own and moves it into place with one rename, so nobody serves a half-written
 * build.
 */
export const CONSOLE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../console')
export const CONSOLE_DIST = path.join(CONSOLE_DIR, 'dist')
const STAMP = 'build-hash.txt'
/** Libraries whose version changes what is bundled. */
const BUNDLED = ['vite', '@vitejs/plugin-react', 'react', 'react-dom', 'react-router', 'hls.js']

function listFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...listFiles(full))
    else if (!entry.name.endsWith('.test.ts') && !entry.name.endsWith('.test.tsx')) out.push(full)
  }
  return out
}

/** The hash of everything a build depends on. */
export function consoleSourceHash(dir = CONSOLE_DIR): string {
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
export function builtHash(dist = CONSOLE_DIST): string | undefined {
  try {
    return readFileSync(path.join(dist, STAMP), 'utf8').trim()
  } catch {
    return undefined
  }
}

export interface ConsoleBuild {
  dir: string
  /** Whether this call built it (false: the existing build was current). */
  built: boolean
  ms: number
}

let inProcess: Promise<ConsoleBuild> | undefined

/** Builds the console unless the existing build matches the sources. */
export function ensureConsoleBuilt(log: (msg: string) => void = () => {}): Promise<ConsoleBuild> {
  inProcess ??= build(log).finally(() => {
    inProcess = undefined
  })
  return inProcess
}

async function build(log: (msg: string) => void): Promise<ConsoleBuild> {
  const started = Date.now()
  const want = consoleSourceHash()
  if (builtHash() === want) return { dir: CONSOLE_DIST, built: false, ms: Date.now() - started }
  log('building the web console (once per source change)')
  const tmp = path.join(CONSOLE_DIR, `.dist-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    await viteBuild(tmp)
    writeFileSync(path.join(tmp, STAMP), `${want}\n`)
    // Move the old build aside and the new one into place; if another process got there first
    // with the same sources, its build is as good as ours.
    const old = `${tmp}-old`
    if (existsSync(CONSOLE_DIST)) {
      try {
        renameSync(CONSOLE_DIST, old)
      } catch {}
    }
    try {
      renameSync(tmp, CONSOLE_DIST)
    } catch (err) {
      if (builtHash() !== want) throw err
    }
    rmSync(old, { recursive: true, force: true })
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  return { dir: CONSOLE_DIST, built: true, ms: Date.now() - started }
}

/**
 * Runs `vite build` in a child process: always a production build (React's development runtime
 * follows NODE_ENV, which test runners set to "test"), and the hub's event loop stays free.
 */
function viteBuild(outDir: string): Promise<void> {
  const require = createRequire(path.join(CONSOLE_DIR, 'package.json'))
  const bin = path.join(path.dirname(require.resolve('vite/package.json')), 'bin', 'vite.js')
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [bin, 'build', CONSOLE_DIR, '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'],
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
        : reject(new Error(`building the web console failed (${code}): ${stderr.trim()}`)),
    )
  })
}

/** Total bytes of the built files a first load fetches (for the bench), by extension. */
export function builtAssets(dist = CONSOLE_DIST): { file: string; bytes: number }[] {
  const dir = path.join(dist, 'assets')
  if (!existsSync(dir)) return []
  return readdirSync(dir).map((f) => ({ file: path.join(dir, f), bytes: statSync(path.join(dir, f)).size }))
}

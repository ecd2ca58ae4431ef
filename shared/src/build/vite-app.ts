import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

/**
 * A React + Vite app a server builds for itself (the hub's web console, the agent's setup wizard):
 * built once per source change, not per start. A build is stamped with a hash of everything that
 * goes into it (sources, the Vite config, the versions of the libraries it bundles) and rebuilt
 * only when that hash changes, so `npm install && npm start` serves it with no extra command and a
 * second start costs nothing. Several processes may start at once (tests, a hub beside the demo):
 * each builds into a directory of its own and moves it into place with one rename, so nobody
 * serves a half-written build.
 */
export interface ViteAppOptions {
  /** The app's folder: index.html, vite.config.ts, src/. */
  dir: string
  /** Libraries whose version changes what is bundled. */
  bundled: readonly string[]
  /** How logs and errors name it ("the web console"). */
  name: string
}

export interface ViteAppBuild {
  dir: string
  /** Whether this call built it (false: the existing build was current). */
  built: boolean
  ms: number
}

const STAMP = 'build-hash.txt'

function listFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...listFiles(full))
    else if (!/\.test\.tsx?$/.test(entry.name)) out.push(full)
  }
  return out
}

export class ViteApp {
  readonly dist: string
  private inProcess: Promise<ViteAppBuild> | undefined

  constructor(private readonly o: ViteAppOptions) {
    this.dist = path.join(o.dir, 'dist')
  }

  /** The hash of everything a build depends on. */
  sourceHash(): string {
    const dir = this.o.dir
    const hash = createHash('sha256')
    const require = createRequire(path.join(dir, 'package.json'))
    for (const name of this.o.bundled) {
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
  builtHash(dist = this.dist): string | undefined {
    try {
      return readFileSync(path.join(dist, STAMP), 'utf8').trim()
    } catch {
      return undefined
    }
  }

  /** Builds the app unless the existing build matches the sources (one build at a time per process). */
  ensureBuilt(log: (msg: string) => void = () => {}): Promise<ViteAppBuild> {
    this.inProcess ??= this.build(log).finally(() => {
      this.inProcess = undefined
    })
    return this.inProcess
  }

  private async build(log: (msg: string) => void): Promise<ViteAppBuild> {
    const started = Date.now()
    const want = this.sourceHash()
    if (this.builtHash() === want) return { dir: this.dist, built: false, ms: Date.now() - started }
    log(`building ${this.o.name} (once per source change)`)
    const tmp = path.join(this.o.dir, `.dist-${process.pid}-${randomBytes(4).toString('hex')}`)
    try {
      await this.viteBuild(tmp)
      writeFileSync(path.join(tmp, STAMP), `${want}\n`)
      // Move the old build aside and the new one into place; if another process got there first
      // with the same sources, its build is as good as ours.
      const old = `${tmp}-old`
      if (existsSync(this.dist)) {
        try {
          renameSync(this.dist, old)
        } catch {}
      }
      try {
        renameSync(tmp, this.dist)
      } catch (err) {
        if (this.builtHash() !== want) throw err
      }
      rmSync(old, { recursive: true, force: true })
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
    return { dir: this.dist, built: true, ms: Date.now() - started }
  }

  /**
   * Runs `vite build` in a child process: always a production build (React's development runtime
   * follows NODE_ENV, which test runners set to "test"), and the server's event loop stays free.
   */
  private viteBuild(outDir: string): Promise<void> {
    const require = createRequire(path.join(this.o.dir, 'package.json'))
    const bin = path.join(path.dirname(require.resolve('vite/package.json')), 'bin', 'vite.js')
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [bin, 'build', this.o.dir, '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'],
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
          : reject(new Error(`building ${this.o.name} failed (${code}): ${stderr.trim()}`)),
      )
    })
  }
}

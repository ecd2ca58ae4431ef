import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import type { Browser, Page } from 'playwright-core'
import { enroll, loadAgentSettings } from '../../edge-agent/src/index.ts'
import { toLocalInput } from '../../hub/console/src/components/format.ts'
import { loadConfig } from '../../hub/src/config/config.ts'
import { CONSOLE_DIST, ensureConsoleBuilt } from '../../hub/src/console/console-build.ts'
import { createLogger } from '../../hub/src/observability/logger.ts'
import { type RunningHub, startHub } from '../../hub/src/server.ts'
import { issueTestLicense, testVendor } from '../../hub/test/helpers/licenses.ts'
import { chromiumAvailable, launchChromium } from '../../scripts/lib/chromium.ts'
import type { BenchResult } from '../run.ts'
import { type BenchDatabase, openBenchDatabase } from './bench-database.ts'

/**
 * The web console, three figures:
 * - First load: the JS and CSS a browser fetches to show the first page (index.html's script,
 *   stylesheet and preloaded chunks; hls.js is loaded only by playback), gzipped, against the
 *   250 KB budget.
 * - A 16-tile live grid in Chromium: from opening `/live?layout=4x4` until every tile decodes
 *   frames, against one tile (`/live?layout=1`) in the same run (goal: at most 2x, and within 3 s).
 *   Cold against cold (the hub opens the cameras' upstreams from the agent, on one connection) and warm against warm
 *   (the upstreams still linger from the last viewer, as when an operator comes back to a grid).
 * - Playback start after a seek through the hub (playlist, then the segment the agent uploads on
 *   first request), against reading the same segment from the agent's disk (see playback-seek).
 */
const BUDGET_BYTES = 250 * 1024
const CAMERAS = Number(process.env.VMS_BENCH_CONSOLE_CAMERAS ?? 16)
/** How long the hub keeps an unwatched upstream: warm runs come back within it, cold ones after. */
const UPSTREAM_LINGER_MS = 3000

export function firstLoadBytes(dist = CONSOLE_DIST): { files: string[]; gzipBytes: number } {
  const html = readFileSync(path.join(dist, 'index.html'), 'utf8')
  const files = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1] as string)
  const gzipBytes = files.reduce(
    (sum, f) => sum + gzipSync(readFileSync(path.join(dist, f)), { level: 9 }).length,
    0,
  )
  return { files, gzipBytes }
}

interface Site {
  hub: RunningHub
  password: string
  token: string
  cameraIds: string[]
  recordingsDir: string
  close(): Promise<void>
}

/** A part of the bench's site (console-site.ts) in its own process: its first line, and a stop. */
async function startPart(args: string[]): Promise<{ first: unknown; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(path.dirname(fileURLToPath(import.meta.url)), 'console-site.ts'), ...args],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const first = await new Promise<unknown>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line)))
    child.once('exit', (code) => reject(new Error(`the bench's ${args[0]} exited (${code})`)))
  })
  return {
    first,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r))
      child.stdin.end()
      await exited
    },
  }
}

/**
 * The hub in this process; the cameras and the agent each in a process of their own
 * (console-site.ts), as deployed: cameras are devices, the agent runs on the store's PC. One event
 * loop doing the simulator's, the agent's and the hub's work would measure their contention, not
 * the console.
 */
async function startSite(cameras: number): Promise<Site> {
  // PostgreSQL as deployed when VMS_BENCH_DATABASE_URL names a server (a fresh database, dropped
  // after, also when the site fails to start), else the embedded PGlite, whose queries run on the
  // hub's own event loop.
  const db = await openBenchDatabase('console')
  console.log(`console bench: the hub on ${db.label}`)
  try {
    return await startSiteOn(db, cameras)
  } catch (err) {
    await db.drop()
    throw err
  }
}

async function startSiteOn(db: BenchDatabase & { drop(): Promise<void> }, cameras: number): Promise<Site> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-bench-console-'))
  const password = 'Bench-Console-Passphrase-42'
  const hub = await startHub({
    config: loadConfig(
      {},
      {
        ...db.hubConfig,
        VMS_HTTP_PORT: 0,
        VMS_MQTT_PORT: 0,
        VMS_DATA_DIR: path.join(dataDir, 'hub'),
        VMS_BOOTSTRAP_ADMIN_PASSWORD: password,
        VMS_LIVE_HOST_ADDRESSES: '127.0.0.1',
        VMS_LIVE_UPSTREAM_LINGER_MS: UPSTREAM_LINGER_MS,
        VMS_LOG_LEVEL: 'warn',
        // More cameras than the free tier: a license from a bench vendor key the hub trusts.
        VMS_LICENSE_PUBLIC_KEYS: testVendor.publicKeyFile,
      },
    ),
    logger: createLogger('warn'),
  })
  const api = async (method: string, p: string, token?: string, body?: unknown) => {
    const res = await fetch(`${hub.url}${p}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`)
    return (await res.json()) as Record<string, unknown>
  }
  const token = (
    await api('POST', '/api/v1/auth/login', undefined, { tenant: 'system', username: 'admin', password })
  ).accessToken as string
  const license = await fetch(`${hub.url}/api/v1/license`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
    body: await issueTestLicense({ tenant: 'system' }),
  })
  if (!license.ok) throw new Error(`license: ${await license.text()}`)
  const site = await api('POST', '/api/v1/sites', token, { name: 'Bench' })
  const enrollment = await api('POST', `/api/v1/sites/${site.id}/enrollments`, token)
  const agentDir = path.join(dataDir, 'agent')
  const { agentId } = await enroll({ hubUrl: hub.url, code: enrollment.code as string, dataDir: agentDir })
  const recordingsDir = loadAgentSettings({ VMS_AGENT_DATA_DIR: agentDir }).VMS_AGENT_RECORDINGS_DIR
  const camerasProc = await startPart(['cameras', String(cameras)])
  const simBase = (camerasProc.first as { simBase: string }).simBase
  const agentProc = await startPart(['agent', agentDir])
  const cameraIds: string[] = []
  for (let i = 0; i < cameras; i++) {
    const camera = await api('POST', '/api/v1/cameras', token, {
      name: `Bench ${String(i + 1).padStart(2, '0')}`,
      siteId: site.id,
      agentId,
      streams: [
        { role: 'main', url: `${simBase}/cam${i}` },
        // Grid tiles ask for the sub-stream (320x180), a one-tile layout for the main (640x360).
        { role: 'sub', url: `${simBase}/cam${i}-sub` },
      ],
      // Recording keeps each camera's session open, as on a real site (streams are lent on demand).
      recording: { enabled: true, retentionDays: 1 },
    })
    cameraIds.push(camera.id as string)
  }
  const started = Date.now()
  for (;;) {
    const list = (await api('GET', '/api/v1/cameras?limit=100', token)) as {
      items: { status: { streams: { state: string }[] } | null }[]
    }
    if (list.items.filter((c) => c.status?.streams.some((s) => s.state === 'streaming')).length >= cameras)
      break
    if (Date.now() - started > 60_000) throw new Error('the bench cameras did not all stream')
    await new Promise((r) => setTimeout(r, 250))
  }
  return {
    hub,
    password,
    token,
    cameraIds,
    recordingsDir,
    async close() {
      await agentProc.stop()
      await camerasProc.stop()
      await hub.close()
      await db.drop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/**
 * Signs in and lands on a page without video (Events), not on the default Live page: a grid
 * opened there would leave sessions closing and upstreams lingering under the measured one.
 */
async function signIn(page: Page, site: Site): Promise<void> {
  await page.goto(`${site.hub.url}/sign-in?next=%2Fevents`)
  await page.getByLabel('Tenant').fill('system')
  await page.getByLabel('Username').fill('admin')
  await page.getByLabel('Password').fill(site.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Events' }).waitFor()
}

/**
 * VMS_BENCH_DEBUG: when each of the page's peer connections reaches each step (page time, ms).
 * Plain JavaScript: the bench's own functions are compiled with helpers the page does not have.
 */
const TRACE_PEER_CONNECTIONS = `
  const trace = []
  window.__pcTrace = trace
  const mark = (what) => trace.push([what, performance.now()])
  const Native = window.RTCPeerConnection
  window.RTCPeerConnection = class extends Native {
    constructor(config) {
      super(config)
      mark('new')
      this.addEventListener('icegatheringstatechange', () => mark('gather-' + this.iceGatheringState))
      this.addEventListener('iceconnectionstatechange', () => mark('ice-' + this.iceConnectionState))
      this.addEventListener('connectionstatechange', () => mark('pc-' + this.connectionState))
      this.addEventListener('track', () => mark('track'))
    }
    setRemoteDescription(d) {
      mark('answer')
      return super.setRemoteDescription(d)
    }
  }
  const seen = new WeakSet()
  const poll = () => {
    for (const v of document.querySelectorAll('video'))
      if (!seen.has(v) && v.getVideoPlaybackQuality().totalVideoFrames > 0) {
        seen.add(v)
        mark('first-frame')
      }
    requestAnimationFrame(poll)
  }
  requestAnimationFrame(poll)
`

/** Waits until the hub has let go of every upstream (they linger `UPSTREAM_LINGER_MS` unwatched). */
async function noUpstreams(site: Site): Promise<void> {
  const started = Date.now()
  while (site.hub.context.live.upstreamCount > 0) {
    if (Date.now() - started > UPSTREAM_LINGER_MS + 30_000) throw new Error('the hub kept its upstreams')
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Milliseconds from opening the grid until every tile has decoded a frame. */
async function gridTime(browser: Browser, site: Site, layout: '1' | '4x4'): Promise<number> {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } })
  const page = await context.newPage()
  if (process.env.VMS_BENCH_DEBUG) await page.addInitScript({ content: TRACE_PEER_CONNECTIONS })
  try {
    // Start from a page without video, signed in, so only the grid is timed.
    await signIn(page, site)
    const tiles = layout === '1' ? 1 : 16
    const started = performance.now()
    await page.goto(`${site.hub.url}/live?layout=${layout}`)
    await page
      .waitForFunction(
        (n) => {
          const videos = Array.from(document.querySelectorAll<HTMLVideoElement>('[data-camera-id] video'))
          return videos.length >= n && videos.every((v) => v.getVideoPlaybackQuality().totalVideoFrames > 0)
        },
        tiles,
        { timeout: 60_000, polling: 20 },
      )
      .catch(async (err: unknown) => {
        const states = await page.evaluate(() =>
          Array.from(document.querySelectorAll<HTMLElement>('[data-camera-id]')).map(
            (t) =>
              `${t.dataset.state} ${t.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames} ${t.querySelector('.tile-detail')?.textContent ?? ''}`,
          ),
        )
        throw new Error(`the ${layout} grid did not play: ${states.join('; ')}`, { cause: err })
      })
    const took = performance.now() - started
    if (process.env.VMS_BENCH_DEBUG) {
      const timing = await page.evaluate(() =>
        performance
          .getEntriesByType('resource')
          .filter((e) => e.name.includes('/api/v1/'))
          .map(
            (e) =>
              `${e.name.replace(/^.*\/api\/v1\//, '')} ${Math.round(e.startTime)}-${Math.round((e as PerformanceResourceTiming).responseEnd)}`,
          ),
      )
      console.log(layout, Math.round(took), timing.join('\n'))
      const trace = await page.evaluate(
        () => (window as unknown as { __pcTrace: [string, number][] }).__pcTrace,
      )
      const spans = new Map<string, number[]>()
      for (const [what, at] of trace) spans.set(what, [...(spans.get(what) ?? []), at])
      for (const [what, ats] of spans)
        console.log(
          `  ${what}: ${ats.length}x ${Math.round(Math.min(...ats))}-${Math.round(Math.max(...ats))}`,
        )
    }
    return took
  } finally {
    await context.close()
  }
}

/** The recording file holding a time (files are named by their first frame's wall-clock time). */
function fileAt(dir: string, cameraId: string, t: number): string | undefined {
  const root = path.join(dir, cameraId, 'main')
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.mp4'))
    .map((f) => ({ f: path.join(root, f), start: Number(path.basename(f).split('-')[0]) }))
    .filter((x) => x.start <= t)
    .sort((a, b) => b.start - a.start)
  return files[0]?.f
}

/**
 * From clicking "Go" to a recorded time until the player shows a frame of it (playlist already
 * loaded, the segment not yet cached: the hub asks the agent for it), against reading the same
 * recording file from the agent's disk.
 */
async function playbackSeek(browser: Browser, site: Site): Promise<{ seekMs: number; diskMs: number }> {
  const camera = site.cameraIds[0] as string
  // Enough recording behind us to seek into a finished segment.
  const started = Date.now()
  for (;;) {
    const now = Date.now()
    const res = await fetch(
      `${site.hub.url}/api/v1/cameras/${camera}/recordings?from=${new Date(now - 3600_000).toISOString()}&to=${new Date(now).toISOString()}`,
      { headers: { authorization: `Bearer ${site.token}` } },
    )
    const body = (await res.json()) as { ranges: { from: string; to: string }[] }
    const first = body.ranges[0]
    if (first && now - Date.parse(first.from) > 45_000) break
    if (Date.now() - started > 120_000) throw new Error('the bench camera did not record 45 s')
    await new Promise((r) => setTimeout(r, 1000))
  }
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } })
  const page = await context.newPage()
  try {
    await signIn(page, site)
    const first = Date.now() - 40_000
    await page.goto(`${site.hub.url}/playback/${camera}?t=${new Date(first).toISOString()}`)
    await page.waitForFunction(
      () => document.querySelector('video[data-role="playback"]')?.getAttribute('data-wall-clock'),
      undefined,
      {
        timeout: 30_000,
      },
    )
    const target = Date.now() - 25_000
    await page.getByLabel('Go to time').fill(toLocalInput(new Date(target).toISOString()))
    const t0 = performance.now()
    await page.getByRole('button', { name: 'Go', exact: true }).click()
    await page.waitForFunction(
      (want) => {
        const v = document.querySelector('video[data-role="playback"]') as HTMLVideoElement | null
        const wall = Date.parse(v?.dataset.wallClock ?? '')
        return v !== null && v.readyState >= 2 && Math.abs(wall - want) < 1500
      },
      Math.floor(target / 1000) * 1000,
      { timeout: 30_000, polling: 10 },
    )
    const seekMs = performance.now() - t0
    const file = fileAt(site.recordingsDir, camera, target)
    if (!file) throw new Error('no recording file for the seek target')
    const r0 = performance.now()
    readFileSync(file)
    const diskMs = performance.now() - r0
    return { seekMs, diskMs }
  } finally {
    await context.close()
  }
}

export async function benchConsole(): Promise<BenchResult[]> {
  await ensureConsoleBuilt()
  const load = firstLoadBytes()
  const results: BenchResult[] = [
    {
      name: 'console-first-load',
      subject: { label: 'JS + CSS gzipped (KB)', opsPerSec: load.gzipBytes / 1024 },
      reference: { label: 'budget (KB)', opsPerSec: BUDGET_BYTES / 1024 },
      ratio: load.gzipBytes / BUDGET_BYTES,
      line:
        `console-first-load: ${(load.gzipBytes / 1024).toFixed(1)} KB gzipped (${load.files.length} files) ` +
        `vs budget 250 KB -> ratio ${(load.gzipBytes / BUDGET_BYTES).toFixed(2)}`,
      goals: [{ text: 'within the 250 KB budget', met: load.gzipBytes <= BUDGET_BYTES }],
    },
  ]
  if (!chromiumAvailable) {
    console.warn('console-grid skipped: /usr/bin/chromium is missing')
    return results
  }
  const browser = await launchChromium()
  let site: Site | undefined
  try {
    site = await startSite(CAMERAS)
    // Warm up both layouts once (the first WebRTC setup and the first 16 decoders of a process
    // are slower), then measure each cold (no upstream left on the hub) and at once again, warm.
    await gridTime(browser, site, '1')
    await gridTime(browser, site, '4x4')
    const measured = { one: { cold: 0, warm: 0 }, grid: { cold: 0, warm: 0 } }
    for (const [key, layout] of [
      ['one', '1'],
      ['grid', '4x4'],
    ] as const) {
      await noUpstreams(site)
      measured[key].cold = await gridTime(browser, site, layout)
      measured[key].warm = await gridTime(browser, site, layout)
    }
    for (const kind of ['cold', 'warm'] as const) {
      const ms = measured.grid[kind]
      const one = measured.one[kind]
      results.push({
        name: `console-grid-${kind}`,
        subject: { label: `16-tile grid, ${kind} (ms)`, opsPerSec: ms },
        reference: { label: `one tile, ${kind} (ms)`, opsPerSec: one },
        ratio: ms / one,
        line:
          `console-grid-${kind}: ${CAMERAS} tiles playing after ${Math.round(ms)} ms vs one tile ${Math.round(one)} ms ` +
          `-> ratio ${(ms / one).toFixed(2)}`,
        goals: [
          { text: 'ratio <= 2', met: ms / one <= 2 },
          { text: 'within 3000 ms', met: ms <= 3000 },
        ],
      })
    }
    const seek = await playbackSeek(browser, site)
    results.push({
      name: 'playback-seek',
      subject: { label: 'seek to a frame through the hub (ms)', opsPerSec: seek.seekMs },
      reference: { label: "reading the recording from the agent's disk (ms)", opsPerSec: seek.diskMs },
      ratio: seek.seekMs / seek.diskMs,
      line:
        `playback-seek: a frame ${Math.round(seek.seekMs)} ms after the seek through the hub vs reading the same ` +
        `recording from the agent's disk ${seek.diskMs.toFixed(1)} ms -> ratio ${(seek.seekMs / seek.diskMs).toFixed(0)}`,
      goals: [{ text: 'seek <= 1000 ms', met: seek.seekMs <= 1000 }],
    })
  } finally {
    await browser.close()
    await site?.close()
  }
  return results
}

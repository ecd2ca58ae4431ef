import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { LiveFanout, ReceivingPeer } from '@ts-vms/shared/live'
import { afterAll, describe, expect, it } from 'vitest'

/** `npm start` as a new user runs it: print the URL and the password file, then log in with them. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const dataDir = mkdtempSync(path.join(tmpdir(), 'vms-start-'))
let child: ChildProcess | undefined

afterAll(() => {
  child?.kill('SIGKILL')
  rmSync(dataDir, { recursive: true, force: true })
})

function waitFor(proc: ChildProcess, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const onData = (chunk: Buffer) => {
      seen += chunk.toString()
      const m = seen.match(pattern)
      if (m) {
        proc.stderr?.off('data', onData)
        resolve(m)
      }
    }
    proc.stderr?.on('data', onData)
    proc.once('exit', (code) => reject(new Error(`exited with ${code} before printing ${pattern}:\n${seen}`)))
  })
}

describe('npm start', () => {
  it('serves the hub with a demo agent online, and prints working credentials', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start-demo.ts'], {
      cwd: root,
      env: {
        ...process.env,
        VMS_DATA_DIR: dataDir,
        VMS_AGENT_DATA_DIR: path.join(dataDir, 'agent'),
        VMS_AGENT_MIN_FREE_BYTES: '0',
        VMS_HTTP_PORT: '0',
        VMS_MQTT_PORT: '0',
        VMS_SIM_PORT: '0',
        VMS_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    const match = await waitFor(
      child,
      /listening on (http:\/\/\S+)\nWeb console: http:\/\/\S+\/\n.*password in (\S+)\n/s,
    )
    const [, url, file] = match
    const password = readFileSync(file as string, 'utf8').trim()
    const res = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'system', username: 'admin', password }),
    })
    expect(res.status).toBe(200)
    // The demo agent enrolled itself into site "Demo" and reports in.
    const { accessToken } = (await res.json()) as { accessToken: string }
    const agents = async () =>
      (
        (await (
          await fetch(`${url}/api/v1/agents`, { headers: { authorization: `Bearer ${accessToken}` } })
        ).json()) as {
          items: { status: string; name: string }[]
        }
      ).items
    await expect
      .poll(async () => (await agents()).map((a) => [a.name, a.status]), { timeout: 30_000 })
      .toEqual([['Demo agent', 'online']])
    // ... and records two simulated cameras out of the box.
    const cameras = async () =>
      (
        (await (
          await fetch(`${url}/api/v1/cameras`, { headers: { authorization: `Bearer ${accessToken}` } })
        ).json()) as {
          items: { name: string; status: { streams: { state: string; recording: boolean }[] } | null }[]
        }
      ).items
    await expect
      .poll(
        async () =>
          (await cameras()).map((c) => [
            c.name,
            c.status?.streams[0]?.state,
            c.status?.streams[0]?.recording,
          ]),
        { timeout: 40_000 },
      )
      .toEqual([
        ['Demo entrance (H.264 + AAC)', 'streaming', true],
        ['Demo yard (H.265)', 'streaming', true],
      ])
    // The console is built and served (its live page a deep link), and both demo cameras play live
    // in the grid from their sub streams (the entrance's with the camera's Digest password).
    const page = await fetch(`${url}/live`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'")
    const script = /<script[^>]+src="(\/assets\/[^"]+\.js)"/.exec(await page.text())?.[1]
    expect(script).toBeDefined()
    const asset = await fetch(`${url}${script}`)
    expect(asset.status).toBe(200)
    expect(asset.headers.get('cache-control')).toContain('immutable')
    expect((await fetch(`${url}/diagnostics/live`)).status).toBe(200)
    const ids = (
      (await (
        await fetch(`${url}/api/v1/cameras`, { headers: { authorization: `Bearer ${accessToken}` } })
      ).json()) as { items: { id: string }[] }
    ).items.map((c) => c.id)
    for (const id of ids) {
      const fanout = new LiveFanout()
      const peer = await ReceivingPeer.offer(fanout, {
        iceServers: [],
        additionalHostAddresses: ['127.0.0.1'],
      })
      const live = await fetch(`${url}/api/v1/cameras/${id}/live`, {
        method: 'POST',
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'offer', sdp: peer.offerSdp, stream: 'sub' }),
      })
      expect(live.status).toBe(201)
      const answer = (await live.json()) as { sdp: string; sessionId: string; stream: string }
      expect(answer.stream).toBe('sub')
      await peer.accept(answer.sdp)
      await expect.poll(() => fanout.receivedPackets, { timeout: 20_000 }).toBeGreaterThan(20)
      await fetch(`${url}/api/v1/live/${answer.sessionId}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${accessToken}` },
      })
      await peer.close()
    }
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })
})

describe('npm run hub -- rotate-signing-key', () => {
  it('adds a new key to the stopped hub and says so', async () => {
    const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', 'hub/src/main.ts', 'rotate-signing-key'], {
        cwd: root,
        env: { ...process.env, VMS_DATA_DIR: dataDir, VMS_LOG_LEVEL: 'warn' },
      })
      let text = ''
      proc.stdout.on('data', (c: Buffer) => {
        text += c.toString()
      })
      proc.stderr.on('data', (c: Buffer) => {
        text += c.toString()
      })
      proc.on('exit', (code) => resolve({ code, text }))
    })
    expect(out.text).toMatch(/new signing key \S+/)
    expect(out.code).toBe(0)
  })
})

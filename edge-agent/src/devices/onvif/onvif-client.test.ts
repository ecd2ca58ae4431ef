import { readFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { OnvifClient, rewriteXAddr } from './onvif-client.ts'
import { OnvifError } from './soap.ts'
import { TestOnvifDevice, type TestOnvifDeviceOptions } from './test-onvif-server.ts'

const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../shared/fixtures/devices/onvif',
)

function fixture(name: string): string | undefined {
  const file = path.join(FIXTURES, name)
  try {
    return readFileSync(file, 'utf8')
  } catch {
    console.warn(`SKIPPING fixture test: ${file} is absent`)
    return undefined
  }
}

const TWO_HOURS = 2 * 3600_000
const started: TestOnvifDevice[] = []
const servers: http.Server[] = []

afterEach(async () => {
  await Promise.all(started.splice(0).map((d) => d.stop()))
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    s.close()
  }
})

async function device(
  options: TestOnvifDeviceOptions = {},
): Promise<{ device: TestOnvifDevice; url: string }> {
  const d = new TestOnvifDevice(options)
  started.push(d)
  const url = await d.start()
  return { device: d, url }
}

const client = (url: string, extra: Partial<ConstructorParameters<typeof OnvifClient>[0]> = {}) =>
  new OnvifClient({ url, username: 'admin', password: 'secret', timeoutMs: 3000, ...extra })

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (err) {
    expect(err).toBeInstanceOf(OnvifError)
    return (err as OnvifError).code
  }
}

describe('rewriteXAddr', () => {
  it('moves XAddrs naming another host or port onto the host we reached, keeping path and query', () => {
    const reached = 'http://203.0.113.7:8080/onvif/device_service'
    expect(rewriteXAddr('http://192.168.1.64/onvif/Media', reached)).toBe(
      'http://203.0.113.7:8080/onvif/Media',
    )
    expect(rewriteXAddr('http://0.0.0.0:80/onvif/Subscription?Idx=3', reached)).toBe(
      'http://203.0.113.7:8080/onvif/Subscription?Idx=3',
    )
    expect(rewriteXAddr('http://203.0.113.7:8080/onvif/ptz', reached)).toBe(
      'http://203.0.113.7:8080/onvif/ptz',
    )
    expect(rewriteXAddr('http://192.168.1.64/a http://[fe80::1]/a', reached)).toBe(
      'http://203.0.113.7:8080/a',
    )
    expect(rewriteXAddr('not a url', reached)).toBeUndefined()
    expect(rewriteXAddr('ftp://x/y', reached)).toBeUndefined()
  })
})

describe('OnvifClient against TestOnvifDevice', () => {
  it('measures a clock 2 h ahead unauthenticated, then authenticates with Created in device time', async () => {
    const { device: d, url } = await device({ clockSkewMs: TWO_HOURS })
    const c = client(url)
    const { clockOffsetMs, xaddrs } = await c.connect()
    expect(Math.abs(clockOffsetMs - TWO_HOURS)).toBeLessThan(2000)
    expect(xaddrs.media).toMatch(/\/onvif\/media_service$/)
    expect(await c.deviceInformation()).toMatchObject({ manufacturer: 'TS-VMS', serialNumber: 'TEST0001' })
    expect(d.log).toEqual([
      'GetSystemDateAndTime:anonymous',
      'GetServices:token-digest',
      'GetDeviceInformation:token-digest',
    ])
    expect(c.authMode).toBe('token-digest')
  })

  it('refreshes the clock offset on NotAuthorized and retries when the device clock jumped', async () => {
    const { device: d, url } = await device()
    const c = client(url)
    await c.connect()
    expect(Math.abs(c.clockOffsetMs)).toBeLessThan(2000)
    d.clockSkewMs = TWO_HOURS
    expect((await c.networkInterfaces())[0]?.ipv4?.addresses[0]?.address).toBe('192.168.1.64')
    expect(d.log.slice(2)).toEqual([
      'GetNetworkInterfaces:refused',
      'GetSystemDateAndTime:anonymous',
      'GetNetworkInterfaces:token-digest',
    ])
    expect(Math.abs(c.clockOffsetMs - TWO_HOURS)).toBeLessThan(2000)
  })

  it('fails with not_authorized on a wrong password, after UsernameToken and HTTP Digest', async () => {
    const { device: d, url } = await device({ clockSkewMs: -TWO_HOURS })
    const c = client(url, { password: 'wrong' })
    expect(await code(c.connect())).toBe('not_authorized')
    // Token refused; the clock did not move, so no second token try; HTTP Digest: challenge, then refused.
    expect(d.log).toEqual([
      'GetSystemDateAndTime:anonymous',
      'GetServices:refused',
      'GetSystemDateAndTime:anonymous',
      'GetServices:refused',
      'GetServices:refused',
    ])
    expect(d.requests.at(-1)?.headers.authorization).toMatch(/^Digest /)
    expect(d.requests.some((r) => r.body.includes('PasswordText'))).toBe(false)
  })

  it('falls back to HTTP Digest for a device that refuses WS-Security, and remembers it', async () => {
    const { device: d, url } = await device({ acceptTokenDigest: false })
    const c = client(url)
    await c.connect()
    await c.deviceInformation()
    expect(c.authMode).toBe('http-digest')
    expect(d.log).toEqual([
      'GetSystemDateAndTime:anonymous',
      'GetServices:refused', // UsernameToken: NotAuthorized fault
      'GetSystemDateAndTime:anonymous', // the clock checked once: unchanged, so not retried
      'GetServices:refused', // no credentials: 401 challenge
      'GetServices:http-digest',
      // Remembered: straight to HTTP Digest (challenge, answer).
      'GetDeviceInformation:refused',
      'GetDeviceInformation:http-digest',
    ])
    // The HTTP Digest request carries no UsernameToken.
    expect(d.requests.at(-1)?.body).not.toContain('UsernameToken')
  })

  it('answers a 401 challenge to a UsernameToken request with HTTP Digest in the same call', async () => {
    const { device: d, url } = await device({ acceptTokenDigest: false, rejectTokenWith: 'challenge' })
    const c = client(url)
    await c.connect()
    expect(d.log).toEqual([
      'GetSystemDateAndTime:anonymous',
      'GetServices:refused',
      'GetServices:http-digest',
    ])
  })

  it('uses PasswordText only when allowed', async () => {
    const options = { acceptTokenDigest: false, acceptHttpDigest: false, acceptTokenText: true }
    const a = await device(options)
    expect(await code(client(a.url).connect())).toBe('not_authorized')
    expect(a.device.requests.some((r) => r.body.includes('#PasswordText'))).toBe(false)
    const b = await device(options)
    const c = client(b.url, { allowPasswordText: true })
    await c.connect()
    expect(c.authMode).toBe('token-text')
    expect(await code(client(b.url, { allowPasswordText: true, password: 'nope' }).connect())).toBe(
      'not_authorized',
    )
  })

  it('answers with real devices’ bodies and rewrites their LAN XAddrs onto the reached host', async () => {
    const names = {
      GetServices: 'agsh_GetServices.xml',
      GetDeviceInformation: 'agsh_GetDeviceInformation.xml',
      GetProfiles: 'agsh_GetProfiles.xml',
      GetStreamUri: 'go2rtc_dahua_GetStreamUri_compact.xml',
      GetSnapshotUri: 'go2rtc_dahua_GetSnapshotUri_compact.xml',
      GetNodes: 'agsh_GetNodes.xml',
      GetStatus: 'agsh_GetStatus.xml',
      PullMessages: 'moonfire_dahua_pull_messages_response.xml',
    }
    const responses: Record<string, string> = {}
    for (const [op, file] of Object.entries(names)) {
      const body = fixture(file)
      if (!body) return
      responses[op] = body
    }
    const { device: d, url } = await device({ responses, profiles: [{ token: 'main' }] })
    const c = client(url)
    const { xaddrs } = await c.connect()
    // agsh names http://192.168.68.111/onvif/services for everything.
    const reached = new URL(url)
    for (const x of [xaddrs.media, xaddrs.ptz, xaddrs.events])
      expect(x).toBe(`http://${reached.host}/onvif/services`)
    expect(xaddrs.media2).toBeUndefined()
    expect((await c.deviceInformation()).manufacturer).toBe('Mockup Manufacturer')
    const [profile] = await c.profiles()
    expect(profile).toMatchObject({
      token: 'main',
      video: { encoding: 'H264', width: 1920, height: 1080, fps: 5 },
    })
    expect((await c.streamUri('main')).uri).toBe(
      'rtsp://192.168.1.123:554/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif',
    )
    expect((await c.snapshotUri('main')).uri).toContain('snapshot?channel=1&subtype=1')
    expect((await c.ptz.status('main')).moveStatus).toEqual({ panTilt: 'IDLE', zoom: 'IDLE' })
    await c.ptz.continuousMove('main', { pan: 0.5 }, 1000)
    expect(d.requests.every((r) => r.path === '/onvif/services' || r.path === '/onvif/device_service')).toBe(
      true,
    )
    await c.events.createPullPoint()
    const pulled = await c.events.pull(1, 10)
    expect(pulled.notifications[0]).toMatchObject({
      topic: 'RuleEngine/CellMotionDetector/Motion',
      propertyOperation: 'Initialized',
      data: { IsMotion: 'false' },
    })
  })

  it('falls back to GetCapabilities when GetServices is not supported', async () => {
    const { device: d, url } = await device({ getServices: false, advertisedHost: '192.168.1.64' })
    const c = client(url)
    const { xaddrs } = await c.connect()
    expect(d.log).toContain('GetCapabilities:token-digest')
    expect(xaddrs.events).toBe(`http://${new URL(url).host}/onvif/event_service`)
    expect((await c.profiles())[0]?.token).toBe('main')
  })

  it('uses Media2 when offered', async () => {
    const { device: d, url } = await device({ media2: true })
    const c = client(url)
    expect((await c.connect()).media2).toBe(true)
    const [p] = await c.profiles()
    expect(p).toMatchObject({ token: 'main', ptz: { configurationToken: 'ptzcfg0', nodeToken: 'node0' } })
    expect((await c.streamUri('main')).uri).toMatch(/^rtsp:\/\/127\.0\.0\.1:\d+\/stream\/main\?a=1&b=2$/)
    expect(d.requests.filter((r) => r.operation === 'GetStreamUri')[0]?.path).toBe('/onvif/media2_service')
    // A bad token on Media2 is the answer (no fallback to Media1 for that).
    expect(await code(c.streamUri('nope'))).toBe('fault')
    await c.snapshotUri('main')
    expect(d.requests.at(-1)?.path).toBe('/onvif/media2_service')
  })

  it('measures the clock with HTTP Digest when a firmware protects GetSystemDateAndTime', async () => {
    const { device: d, url } = await device({ requireAuthForTime: true, clockSkewMs: TWO_HOURS })
    const c = client(url)
    await c.connect()
    expect(Math.abs(c.clockOffsetMs - TWO_HOURS)).toBeLessThan(2000)
    expect(d.log.slice(0, 3)).toEqual([
      'GetSystemDateAndTime:refused',
      'GetSystemDateAndTime:refused',
      'GetSystemDateAndTime:http-digest',
    ])
    expect(d.log[3]).toBe('GetServices:token-digest')
  })

  it('drives PTZ, and refuses what the device or node cannot do', async () => {
    const { device: d, url } = await device({
      profiles: [{ token: 'main' }, { token: 'fixed', ptz: false }],
    })
    const c = client(url)
    await c.connect()
    await c.profiles()
    await c.ptz.continuousMove('main', { pan: 1, tilt: -1, zoom: 0 }, 500)
    await c.ptz.stop('main')
    await c.ptz.relativeMove('main', { pan: 0.1, tilt: 0 })
    const token = await c.ptz.setPreset('main', 'Till & door')
    expect(await c.ptz.presets('main')).toEqual([{ token, name: 'Till & door' }])
    await c.ptz.gotoPreset('main', token)
    await c.ptz.gotoHome('main')
    await c.ptz.removePreset('main', token)
    expect(await c.ptz.presets('main')).toEqual([])
    expect(d.ptzCalls.map((x) => x.operation)).toEqual([
      'ContinuousMove',
      'Stop',
      'RelativeMove',
      'SetPreset',
      'GotoPreset',
      'GotoHomePosition',
      'RemovePreset',
    ])
    // The node has no absolute space: refused locally, nothing sent.
    expect(await code(c.ptz.absoluteMove('main', { pan: 0, tilt: 0 }))).toBe('not_supported')
    expect(await code(c.ptz.continuousMove('fixed', { pan: 1 }))).toBe('not_supported')
    expect(d.ptzCalls).toHaveLength(7)
    // An unknown preset is the device's InvalidArgVal fault, not "unsupported".
    const unknown = await c.ptz.gotoPreset('main', 'nope').catch((e: OnvifError) => e)
    expect(unknown).toMatchObject({ code: 'fault', fault: { subcodes: ['InvalidArgVal', 'NoToken'] } })

    const noPtz = await device({ ptz: false })
    const c2 = client(noPtz.url)
    await c2.connect()
    expect(await code(c2.ptz.continuousMove('main', { pan: 1 }))).toBe('not_supported')
    expect(noPtz.device.log.some((l) => l.startsWith('ContinuousMove'))).toBe(false)
  })

  it('pulls events from a PullPoint that names 0.0.0.0, renews and unsubscribes', async () => {
    const { device: d, url } = await device({
      initialEvents: [
        {
          topic: 'tns1:RuleEngine/CellMotionDetector/Motion',
          source: { Rule: '000' },
          data: { IsMotion: 'false' },
        },
      ],
    })
    const c = client(url)
    await c.connect()
    const sub = await c.events.createPullPoint({ terminationMs: 60_000 })
    expect(sub.address).toBe(`http://${new URL(url).host}/onvif/Subscription?Idx=1`)
    const first = await c.events.pull(1, 10)
    expect(first.notifications).toHaveLength(1)
    expect(first.notifications[0]).toMatchObject({
      propertyOperation: 'Initialized',
      data: { IsMotion: 'false' },
    })
    d.pushEvent({
      topic: 'tns1:RuleEngine/CellMotionDetector/Motion',
      propertyOperation: 'Changed',
      data: { IsMotion: 'true' },
    })
    const second = await c.events.pull(1, 10)
    expect(second.notifications.map((n) => [n.topic, n.propertyOperation, n.data.IsMotion])).toEqual([
      ['RuleEngine/CellMotionDetector/Motion', 'Changed', 'true'],
    ])
    expect((await c.events.renew()).terminationTime).toBeInstanceOf(Date)
    const pull = d.requests.find((r) => r.operation === 'PullMessages')
    expect(pull?.body).toContain(`<wsa:To>${sub.address}</wsa:To>`)
    await c.events.unsubscribe()
    expect(c.events.subscription).toBeUndefined()
    expect(d.subscriptions.size).toBe(0)
    await expect(c.events.pull(1, 1)).rejects.toThrow(/createPullPoint/)
  })

  it('echoes Axis-style subscription reference parameters on every subscription call', async () => {
    const { device: d, url } = await device({
      referenceParameters: true,
      initialEvents: [{ topic: 'tns1:A/B' }],
    })
    const c = client(url)
    await c.connect()
    const sub = await c.events.createPullPoint()
    expect(sub.address).toBe(`http://${new URL(url).host}/onvif/services`)
    expect(sub.referenceParameters?.namespaces).toEqual({ dom0: 'http://www.axis.com/2009/event' })
    expect((await c.events.pull(1, 10)).notifications.map((n) => n.topic)).toEqual(['A/B'])
    await c.events.renew()
    await c.events.unsubscribe()
    expect(d.subscriptions.size).toBe(0)
    expect(d.requests.find((r) => r.operation === 'Renew')?.body).toContain('<dom0:SubscriptionId')
  })

  it('long-polls: a pull waits for the next event, and an expired subscription is a fault', async () => {
    const { device: d, url } = await device()
    const c = client(url)
    await c.connect()
    await c.events.createPullPoint()
    const t0 = Date.now()
    setTimeout(
      () => d.pushEvent({ topic: 'tns1:Device/Trigger/DigitalInput', data: { LogicalState: 'true' } }),
      150,
    )
    const r = await c.events.pull(5, 10)
    expect(Date.now() - t0).toBeLessThan(3000)
    expect(r.notifications.map((n) => n.topic)).toEqual(['Device/Trigger/DigitalInput'])
    d.subscriptions.clear()
    expect(await code(c.events.pull(1, 10))).toBe('fault')
  })
})

describe('OnvifClient transport failures', () => {
  async function raw(handler: http.RequestListener): Promise<string> {
    const server = http.createServer(handler)
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/onvif/device_service`
  }

  it('unreachable, timeout, garbage and truncated answers', async () => {
    const closed = await raw(() => {})
    servers.pop()?.close()
    await new Promise((r) => setTimeout(r, 20))
    expect(await code(client(closed).connect())).toBe('unreachable')

    const silent = await raw(() => {})
    expect(await code(client(silent, { timeoutMs: 200 }).connect())).toBe('timeout')

    const garbage = await raw((_req, res) => res.writeHead(200).end('\u0000\u0001 not xml <<<'))
    expect(await code(client(garbage).deviceInformation())).toBe('bad_response')

    const truncated = await raw((_req, res) =>
      res
        .writeHead(200)
        .end('<?xml version="1.0"?><s:Envelope xmlns:s="x"><s:Body><tds:GetDeviceInformationResponse>'),
    )
    expect(await code(client(truncated).deviceInformation())).toBe('bad_response')

    const html = await raw((_req, res) => res.writeHead(500).end('<html><body>Internal error</body></html>'))
    expect(await code(client(html).deviceInformation())).toBe('protocol')
  })

  it('keeps offset 0 and carries on when GetSystemDateAndTime is refused', async () => {
    const { device: d, url } = await device({ responses: { GetSystemDateAndTime: '<garbage' } })
    const c = client(url)
    await c.connect()
    expect(c.clockOffsetMs).toBe(0)
    expect(d.log.at(-1)).toBe('GetServices:token-digest')
  })
})

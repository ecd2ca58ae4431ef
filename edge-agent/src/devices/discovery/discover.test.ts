import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { TestWsDiscoveryResponder } from '../onvif/test-ws-discovery.ts'
import { discover, discoverDetailed } from './discover.ts'
import { DiscoveryTargetError } from './targets.ts'

describe('discover', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((f) => f()))
  })
  const tcpServer = async () => {
    const server = net.createServer((s) => s.destroy())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((r) => server.close(r)))
    return (server.address() as net.AddressInfo).port
  }

  it('merges WS-Discovery and the scan into one entry per address', async () => {
    const responder = await new TestWsDiscoveryResponder({
      xaddrs: ['http://0.0.0.0:8899/onvif/device_service'],
      scopes: [
        'onvif://www.onvif.org/name/HIKVISION%20Front',
        'onvif://www.onvif.org/hardware/DS-2CD2386G2-IU',
      ],
    }).start()
    cleanups.push(() => responder.stop())
    const tcp = await tcpServer()

    const result = await discoverDetailed({
      methods: ['onvif', 'scan'],
      targets: [responder.target, `127.0.0.1:${tcp}`],
      timeoutMs: 1500,
      scanPorts: [],
      neighbours: [{ address: '127.0.0.1', mac: '44:19:B6:00:00:02' }],
    })
    expect(result.devices).toHaveLength(1)
    const d = result.devices[0]!
    expect(d).toMatchObject({
      address: '127.0.0.1',
      port: 8899,
      onvifUrl: 'http://127.0.0.1:8899/onvif/device_service',
      name: 'HIKVISION Front',
      model: 'DS-2CD2386G2-IU',
      hardware: 'DS-2CD2386G2-IU',
      mac: '44:19:B6:00:00:02',
      manufacturer: 'Hikvision',
      protocols: ['onvif'],
      endpointReference: responder.endpointReference,
    })
    expect(d.openPorts).toContain(tcp)
    expect(result.stats.onvif?.sent).toBe(2)
    expect(result.stats.scan?.hostsPlanned).toBe(1)
  })

  it('maps open well-known ports to protocols and the management port', async () => {
    const tcp = await tcpServer()
    // A service on a non-standard port: no protocol hint, and the management port falls back to
    // the first open port (the hint table itself is tested in network-scan.test.ts).
    const devices = await discover({
      methods: ['scan'],
      targets: [`127.0.0.1:${tcp}`],
      timeoutMs: 500,
      scanPorts: [],
    })
    expect(devices).toEqual([{ address: '127.0.0.1', port: tcp, protocols: [], openPorts: [tcp] }])
  })

  it('validates the request before sending anything', async () => {
    await expect(discover({ methods: [], timeoutMs: 100 })).rejects.toBeInstanceOf(DiscoveryTargetError)
    await expect(discover({ methods: ['nmap' as never], timeoutMs: 100 })).rejects.toThrow(/unknown/)
    await expect(discover({ methods: ['onvif'], targets: ['1.1.1.1'], timeoutMs: 100 })).rejects.toThrow(
      /"1\.1\.1\.1".*public/,
    )
    await expect(discover({ methods: ['scan'], targets: ['10.0.0.0/8'], timeoutMs: 100 })).rejects.toThrow(
      /larger than \/22/,
    )
    await expect(discover({ methods: ['scan'], timeoutMs: Number.NaN })).rejects.toThrow(/timeoutMs/)
  })

  it('returns within its time budget, with nothing found on a machine without cameras', async () => {
    const silent = await new TestWsDiscoveryResponder({ behaviour: 'silent' }).start()
    cleanups.push(() => silent.stop())
    const t0 = performance.now()
    const result = await discoverDetailed({
      methods: ['onvif', 'scan'],
      targets: [silent.target, '127.0.2.0/24'],
      timeoutMs: 400,
      neighbours: [],
    })
    const elapsed = performance.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(390)
    // timeoutMs plus merging; the margin is for loaded CI machines, not for work done late.
    expect(elapsed).toBeLessThan(400 + 1000)
    expect(result.stats.elapsedMs).toBeLessThan(400 + 1000)
    // 127.0.2.x refuses every port; whatever else listens on loopback here is not a camera.
    for (const d of result.devices) expect(d.protocols).not.toContain('onvif')
  })

  it('without targets uses multicast and the local private subnets only', async () => {
    const result = await discoverDetailed({
      methods: ['onvif', 'scan'],
      timeoutMs: 200,
      neighbours: [],
      // A public-only machine: the scan plans nothing; multicast goes wherever it can, or nowhere.
      interfaces: {
        eth0: [
          { address: '198.51.100.7', netmask: '255.255.255.0', family: 'IPv4', internal: false } as never,
        ],
      },
    })
    expect(result.stats.scan).toMatchObject({ subnets: [], hostsPlanned: 0 })
    expect(result.stats.onvif).toBeDefined()
  })
})

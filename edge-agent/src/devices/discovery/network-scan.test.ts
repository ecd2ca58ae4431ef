import net from 'node:net'
import type os from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import {
  localSubnets,
  macVendor,
  normaliseMac,
  parseBsdArp,
  parseProcNetArp,
  parseWindowsArp,
  protocolHints,
  readNeighbours,
  scanNetwork,
  tcpProbe,
} from './network-scan.ts'
import { DiscoveryTargetError } from './targets.ts'

const PROC_NET_ARP = `IP address       HW type     Flags       HW address            Mask     Device
192.168.1.1      0x1         0x2         aa:bb:cc:dd:ee:01     *        eth0
192.168.1.64     0x1         0x2         44:19:b6:12:34:56     *        eth0
192.168.1.108    0x1         0x2         3c:ef:8c:aa:bb:cc     *        eth0
192.168.1.77     0x1         0x0         00:00:00:00:00:00     *        eth0
10.9.0.5         0x1         0x6         ac:cc:8e:01:02:03     *        eth1
`

const WINDOWS_ARP = `
Interface: 192.168.1.10 --- 0xb
  Internet Address      Physical Address      Type
  192.168.1.1           aa-bb-cc-dd-ee-01     dynamic
  192.168.1.64          44-19-b6-12-34-56     dynamic
  192.168.1.255         ff-ff-ff-ff-ff-ff     static
  224.0.0.22            01-00-5e-00-00-16     static

Schnittstelle: 10.0.0.2 --- 0x4
  Internetadresse       Physische Adresse     Typ
  10.0.0.20             00-40-8c-11-22-33     dynamisch
`

const BSD_ARP = `? (192.168.1.1) at aa:bb:cc:dd:ee:1 on en0 ifscope [ethernet]
? (192.168.1.64) at 44:19:b6:12:34:56 on en0 ifscope [ethernet]
? (192.168.1.99) at (incomplete) on en0 ifscope [ethernet]
`

describe('neighbour table parsers', () => {
  it('reads /proc/net/arp, skipping incomplete entries', () => {
    expect(parseProcNetArp(PROC_NET_ARP)).toEqual([
      { address: '192.168.1.1', mac: 'AA:BB:CC:DD:EE:01', interface: 'eth0' },
      { address: '192.168.1.64', mac: '44:19:B6:12:34:56', interface: 'eth0' },
      { address: '192.168.1.108', mac: '3C:EF:8C:AA:BB:CC', interface: 'eth0' },
      { address: '10.9.0.5', mac: 'AC:CC:8E:01:02:03', interface: 'eth1' },
    ])
    expect(parseProcNetArp('')).toEqual([])
  })

  it('reads Windows arp -a in any language, skipping broadcast and multicast', () => {
    expect(parseWindowsArp(WINDOWS_ARP)).toEqual([
      { address: '192.168.1.1', mac: 'AA:BB:CC:DD:EE:01', interface: '192.168.1.10' },
      { address: '192.168.1.64', mac: '44:19:B6:12:34:56', interface: '192.168.1.10' },
      { address: '10.0.0.20', mac: '00:40:8C:11:22:33', interface: '10.0.0.2' },
    ])
  })

  it('reads BSD/macOS arp -an with unpadded octets', () => {
    expect(parseBsdArp(BSD_ARP)).toEqual([
      { address: '192.168.1.1', mac: 'AA:BB:CC:DD:EE:01', interface: 'en0' },
      { address: '192.168.1.64', mac: '44:19:B6:12:34:56', interface: 'en0' },
    ])
  })

  it('reads this machine’s table without failing', async () => {
    expect(Array.isArray(await readNeighbours())).toBe(true)
  })
})

describe('vendors and hints', () => {
  it('normalises MACs and knows a few camera makers', () => {
    expect(normaliseMac('0:40:8c:1:2:3')).toBe('00:40:8C:01:02:03')
    expect(normaliseMac('ACCC8E010203')).toBe('AC:CC:8E:01:02:03')
    expect(normaliseMac('nope')).toBeUndefined()
    expect(macVendor('44-19-b6-00-00-01')).toBe('Hikvision')
    expect(macVendor('90:02:a9:00:00:01')).toBe('Dahua')
    expect(macVendor('00:40:8c:00:00:01')).toBe('Axis')
    expect(macVendor('aa:bb:cc:00:00:01')).toBeUndefined()
    expect(macVendor(undefined)).toBeUndefined()
  })

  it('maps ports to protocol hints', () => {
    expect(protocolHints([554, 80, 8000, 37777, 443, 22])).toEqual(['rtsp', 'http', 'isapi', 'dahua'])
  })
})

describe('localSubnets', () => {
  const info = (address: string, netmask: string, internal = false) =>
    ({
      address,
      netmask,
      family: 'IPv4',
      internal,
      mac: '',
      cidr: null,
    }) as unknown as os.NetworkInterfaceInfo
  it('keeps private and link-local interfaces, narrowed to /22, and drops the rest', () => {
    const subnets = localSubnets({
      lo: [info('127.0.0.1', '255.0.0.0', true)],
      eth0: [info('192.168.1.10', '255.255.255.0')],
      eth1: [info('10.20.30.40', '255.0.0.0')],
      eth2: [info('203.0.113.5', '255.255.255.0')],
      eth3: [info('100.100.1.1', '255.192.0.0')],
      eth4: [info('169.254.7.7', '255.255.0.0')],
      docker0: [info('172.17.0.1', '255.255.0.0')],
      wg0: [info('10.66.0.2', '255.255.255.0')],
      ppp: [info('192.168.9.9', '255.255.255.255')],
    })
    expect(subnets.map((s) => s.cidr)).toEqual(['192.168.1.0/24', '10.20.28.0/22', '169.254.4.0/22'])
  })
})

describe('scanNetwork', () => {
  const servers: net.Server[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
  })
  const listen = async () => {
    const server = net.createServer((socket) => socket.destroy())
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return (server.address() as net.AddressInfo).port
  }
  const closedPort = async () => {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    await new Promise((r) => server.close(r))
    return port
  }

  it('probes one port: open, refused', async () => {
    const open = await listen()
    expect(await tcpProbe('127.0.0.1', open, 1000)).toBe('open')
    expect(await tcpProbe('127.0.0.1', await closedPort(), 1000)).toBe('closed')
  })

  it('finds an open port on an explicit loopback target, with hints and the neighbour MAC', async () => {
    const port = await listen()
    const closed = await closedPort()
    const result = await scanNetwork({
      targets: [`127.0.0.1:${port}`, '127.0.0.2'],
      ports: [closed],
      timeoutMs: 2000,
      neighbours: [{ address: '127.0.0.1', mac: '44:19:B6:00:00:01' }],
    })
    expect(result.hosts).toEqual([
      {
        address: '127.0.0.1',
        openPorts: [port],
        protocols: [],
        mac: '44:19:B6:00:00:01',
        vendor: 'Hikvision',
      },
    ])
    expect(result.stats).toMatchObject({ hostsPlanned: 2, probes: 3, open: 1, unprobed: 0 })
    expect(result.stats.refused).toBeGreaterThanOrEqual(1)
  })

  it('tries a host’s other ports once its first port answered (here: refused)', async () => {
    const port = await listen()
    const closed = await closedPort()
    const result = await scanNetwork({
      targets: [`127.0.0.1:${port}`],
      ports: [closed],
      timeoutMs: 2000,
      neighbours: [],
    })
    expect(result.hosts).toEqual([{ address: '127.0.0.1', openPorts: [port], protocols: [] }])
    expect(result.stats).toMatchObject({ probes: 2, open: 1, refused: 1, unprobed: 0 })
  })

  it('refuses public ranges and host names before probing anything', async () => {
    await expect(scanNetwork({ targets: ['8.8.8.0/24'], timeoutMs: 100 })).rejects.toBeInstanceOf(
      DiscoveryTargetError,
    )
    await expect(scanNetwork({ targets: ['example.com'], timeoutMs: 100 })).rejects.toThrow(/host names/)
    await expect(scanNetwork({ targets: ['10.0.0.0/16'], timeoutMs: 100 })).rejects.toThrow(/\/22/)
  })

  it('without targets scans only private local subnets, capped at 1,024 hosts, within the deadline', async () => {
    // A machine whose only interface is public: nothing at all is probed.
    const none = await scanNetwork({
      timeoutMs: 200,
      interfaces: {
        eth0: [
          { address: '198.51.100.7', netmask: '255.255.255.0', family: 'IPv4', internal: false } as never,
        ],
      },
      neighbours: [{ address: '198.51.100.1', mac: '44:19:B6:00:00:01' }],
    })
    expect(none.hosts).toEqual([])
    expect(none.stats).toMatchObject({ subnets: [], hostsPlanned: 0, probes: 0 })

    // Two /22s (2 × 1,021 hosts besides our own address) are planned up to the cap. These could be
    // real hosts on the test machine's network, so the scan is aborted before any connect.
    const t0 = performance.now()
    const capped = await scanNetwork({
      timeoutMs: 30,
      signal: AbortSignal.abort(),
      interfaces: {
        eth0: [{ address: '10.250.0.1', netmask: '255.255.252.0', family: 'IPv4', internal: false } as never],
        eth1: [{ address: '10.251.0.1', netmask: '255.255.252.0', family: 'IPv4', internal: false } as never],
      },
      neighbours: [],
    })
    expect(performance.now() - t0).toBeLessThan(500)
    expect(capped.stats.subnets).toEqual(['10.250.0.0/22', '10.251.0.0/22'])
    expect(capped.stats.hostsPlanned).toBe(1024)
    expect(capped.stats.hostsTruncated).toBe(2 * 1021 - 1024)
    expect(capped.stats.probes).toBe(0)
    expect(capped.stats.unprobed).toBe(1024 * 4)
  })

  it('respects the deadline when connects hang', async () => {
    // A listener with a full backlog is hard to make portable; instead many targets with a tiny
    // deadline: whatever was not tried is reported, and the call returns on time.
    const t0 = performance.now()
    const result = await scanNetwork({ targets: ['127.0.1.0/24'], timeoutMs: 150, connectsPerSecond: 100 })
    expect(performance.now() - t0).toBeLessThan(1200)
    expect(result.stats.probes + result.stats.unprobed).toBe(254 * 4)
    expect(result.stats.unprobed).toBeGreaterThan(0)
  })
})

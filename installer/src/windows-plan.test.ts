import { describe, expect, it } from 'vitest'
import { FIREWALL_ACTIONS, FIREWALL_GROUP, firewallPlan } from './firewall.ts'
import { describePlan, type Step } from './plan.ts'
import { AGENT, HUB } from './service-definition.ts'
import { COMPONENT_CHOICES, componentsOf, SERVICE_ACTIONS, servicePlan } from './windows-plan.ts'
import { WINSW, winswXml } from './winsw.ts'

const WINSW_PATH = 'C:\\Downloads\\WinSW-x64.exe'

describe('service-manager plans', () => {
  for (const action of SERVICE_ACTIONS) {
    for (const component of COMPONENT_CHOICES) {
      it(`${action} ${component} matches the golden files (JSON and text)`, async () => {
        const plan = servicePlan(action, component, { winswPath: WINSW_PATH })
        const name = `../test/golden/service-${action.toLowerCase()}-${component.toLowerCase()}`
        await expect(`${JSON.stringify(plan, null, 2)}\n`).toMatchFileSnapshot(`${name}.json.golden`)
        await expect(describePlan(plan)).toMatchFileSnapshot(`${name}.txt`)
      })
    }
  }

  it('runs programs with an argument array, never through a shell', () => {
    for (const action of SERVICE_ACTIONS) {
      for (const s of servicePlan(action, 'All', { winswPath: WINSW_PATH }).steps) {
        if (s.kind !== 'run') continue
        expect(Array.isArray(s.args)).toBe(true)
        expect(s.file).not.toMatch(/^(cmd|powershell|pwsh)(\.exe)?$/i)
      }
    }
  })

  it('Install needs WinSW and checks it against the pinned SHA-256 before copying it', () => {
    expect(() => servicePlan('Install', 'Agent')).toThrow(/WinSW/)
    const steps = servicePlan('Install', 'Agent', { winswPath: WINSW_PATH }).steps
    const check = steps.findIndex((s) => s.kind === 'check-sha256')
    const copy = steps.findIndex((s) => s.kind === 'cmdlet' && s.name === 'Copy-Item')
    expect(check).toBeGreaterThanOrEqual(0)
    expect(steps[check]).toMatchObject({ path: WINSW_PATH, sha256: WINSW.sha256 })
    expect(copy).toBeGreaterThan(check)
  })

  it('Install writes the XML service print prints, grants the data folder to LocalService, registers the event source', () => {
    const steps = servicePlan('Install', 'Agent', { winswPath: WINSW_PATH }).steps
    const xml = steps.find((s): s is Extract<Step, { kind: 'write-file' }> => s.kind === 'write-file')
    expect(xml?.content).toBe(winswXml(AGENT))
    expect(xml?.path).toMatch(/\\service\\ts-vms-agent\.xml$/)
    const icacls = steps.find((s) => s.kind === 'run' && s.file === 'icacls.exe')
    expect(icacls).toMatchObject({ args: expect.arrayContaining(['/inheritance:r', '*S-1-5-19:(OI)(CI)M']) })
    const ev = steps.find((s) => s.kind === 'run' && s.file === 'eventcreate.exe')
    expect(ev).toMatchObject({ args: expect.arrayContaining(['/SO', AGENT.eventSource]) })
    // The wrapper is installed after its XML is in place, the failure flag after the install.
    const order = steps.map((s) => (s.kind === 'run' ? `${s.file} ${s.args[0]}` : s.kind))
    expect(order.indexOf('write-file')).toBeLessThan(
      order.findIndex((o) => o.endsWith('ts-vms-agent.exe install')),
    )
    expect(order.findIndex((o) => o.endsWith('ts-vms-agent.exe install'))).toBeLessThan(
      order.indexOf('sc.exe failureflag'),
    )
  })

  it('takes the hub first up and the agent first down', () => {
    expect(componentsOf('All', 'Start')).toEqual(['hub', 'agent'])
    expect(componentsOf('All', 'Stop')).toEqual(['agent', 'hub'])
    expect(componentsOf('All', 'Uninstall')).toEqual(['agent', 'hub'])
    const stop = servicePlan('Stop', 'All').steps.map((s) => (s.kind === 'run' ? s.file : ''))
    expect(stop).toEqual([
      '%ProgramFiles%\\TS-VMS\\service\\ts-vms-agent.exe',
      '%ProgramFiles%\\TS-VMS\\service\\ts-vms-hub.exe',
    ])
  })

  it('Uninstall removes the service and its event source, and keeps the data', () => {
    const steps = servicePlan('Uninstall', 'Hub').steps
    expect(
      steps.some(
        (s) => s.kind === 'run' && s.file === 'reg.exe' && s.args.join(' ').includes(HUB.eventSource),
      ),
    ).toBe(true)
    expect(JSON.stringify(steps)).not.toContain('ProgramData')
  })

  it('uses the install directory it is given', () => {
    const plan = servicePlan('Start', 'Hub', {
      layout: { installDir: 'D:\\Apps\\TS-VMS', dataRoot: '%ProgramData%\\TS-VMS', node: 'node.exe' },
    })
    expect(plan.steps[0]).toMatchObject({
      file: 'D:\\Apps\\TS-VMS\\service\\ts-vms-hub.exe',
      args: ['start'],
    })
  })
})

describe('firewall plans', () => {
  for (const action of FIREWALL_ACTIONS) {
    it(`${action} matches the golden files`, async () => {
      const plan = firewallPlan(action, { components: ['hub', 'agent'], allowPublic: false })
      const name = `../test/golden/firewall-${action.toLowerCase()}`
      await expect(`${JSON.stringify(plan, null, 2)}\n`).toMatchFileSnapshot(`${name}.json.golden`)
      await expect(describePlan(plan)).toMatchFileSnapshot(`${name}.txt`)
    })
  }

  const rules = (o: Parameters<typeof firewallPlan>[1]) =>
    firewallPlan('Install', o)
      .steps.filter(
        (s): s is Extract<Step, { kind: 'cmdlet' }> =>
          s.kind === 'cmdlet' && s.name === 'New-NetFirewallRule',
      )
      .map((s) => s.params)

  it('puts every rule in the TS-VMS group, inbound, Domain and Private only by default', () => {
    const all = rules({ components: ['hub', 'agent'], allowPublic: false })
    expect(all).toHaveLength(4)
    for (const r of all) {
      expect(r).toMatchObject({
        Group: FIREWALL_GROUP,
        Direction: 'Inbound',
        Action: 'Allow',
        Profile: ['Domain', 'Private'],
      })
    }
  })

  it('adds Public only with -AllowPublic', () => {
    for (const r of rules({ components: ['hub', 'agent'], allowPublic: true })) {
      expect(r['Profile']).toEqual(['Domain', 'Private', 'Public'])
    }
  })

  it('opens the hub HTTPS and MQTT-TLS ports, the agent WebRTC range and wizard on the local subnet, nothing for RTSP', () => {
    const hub = rules({ components: ['hub'], allowPublic: false })
    expect(hub.map((r) => [r['Protocol'], r['LocalPort'], r['RemoteAddress']])).toEqual([
      ['TCP', '443', undefined],
      ['TCP', '8883', undefined],
    ])
    const agent = rules({ components: ['agent'], allowPublic: false })
    expect(agent.map((r) => [r['Protocol'], r['LocalPort'], r['RemoteAddress']])).toEqual([
      ['UDP', '50000-50199', 'LocalSubnet'],
      ['TCP', '7080', 'LocalSubnet'],
    ])
    expect(JSON.stringify([...hub, ...agent])).not.toMatch(/"554"|RTSP/i)
  })

  it('Install starts by removing the group (idempotent); Uninstall removes the group', () => {
    const install = firewallPlan('Install', { components: ['agent'], allowPublic: false }).steps
    expect(install[0]).toMatchObject({ name: 'Remove-NetFirewallRule', params: { Group: FIREWALL_GROUP } })
    const uninstall = firewallPlan('Uninstall', { components: ['agent'], allowPublic: false }).steps
    expect(uninstall).toEqual([
      expect.objectContaining({ name: 'Remove-NetFirewallRule', params: { Group: 'TS-VMS' } }),
    ])
  })
})

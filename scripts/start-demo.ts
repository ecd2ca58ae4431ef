/**
 * `npm start`: the whole system on embedded defaults, for a first look and for development: the
 * hub (embedded PostgreSQL and MQTT broker, data in ./data/hub), the camera simulator (RTSP on
 * VMS_SIM_PORT, default 8554), and one demo agent (./data/agent), enrolled automatically into a
 * "Demo" site of the system tenant on first start, which records two simulated cameras (H.264 with
 * Digest authentication and a 320x180 sub stream for the live grid, and H.265 over UDP with an
 * H.264 sub-stream for live view). The console is at <hub>/.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import pino from 'pino'
import {
  EdgeAgent,
  enroll,
  hasCredentials,
  loadAgentSettings,
  readCredentials,
} from '../edge-agent/src/index.ts'
import { bumpConfigVersion, publishDesiredConfig } from '../hub/src/agents/config-sync.ts'
import { newEnrollmentCode } from '../hub/src/agents/enrollment.ts'
import { sealStreams } from '../hub/src/cameras/camera-streams.ts'
import { serveHub } from '../hub/src/cli/serve.ts'
import { ConfigError, loadConfig } from '../hub/src/config/config.ts'
import type { HubContext } from '../hub/src/hub-context.ts'
import { SimulatedDevices } from './camera-sim/devices.ts'
import { CameraSimulator } from './camera-sim/simulator.ts'

/** Secrets are never printed: the demo device's password goes to a file only its owner reads. */
function demoDevicePassword(dir: string, password: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = path.join(dir, 'demo-device-password')
  writeFileSync(file, `${password}\n`, { mode: 0o600 })
  return file
}

/** A one-time code for the demo agent, in site "Demo" (or the tenant's only site). */
async function demoEnrollment(hub: HubContext): Promise<{ code: string; site: string }> {
  const { code, hash } = newEnrollmentCode()
  const site = await hub.db.withSystem(async (tx) => {
    const sites: { id: string; name: string }[] = await tx.execute(
      `select id, name from sites where tenant_id = ? order by (name = 'Demo') desc, created_at limit 1`,
      [hub.systemTenantId],
    )
    let chosen = sites[0]
    if (!chosen) {
      chosen = { id: randomUUID(), name: 'Demo' }
      await tx.execute('insert into sites (id, tenant_id, name) values (?, ?, ?)', [
        chosen.id,
        hub.systemTenantId,
        chosen.name,
      ])
    }
    await tx.execute(
      `insert into agent_enrollments (id, tenant_id, site_id, code_hash, expires_at)
       values (?, ?, ?, ?, now() + interval '10 minutes')`,
      [randomUUID(), hub.systemTenantId, chosen.id, hash],
    )
    return chosen
  })
  return { code, site: site.name }
}

/** The simulator on its usual port, or any free one if that is taken. */
async function startSimulator(auth: { username: string; password: string }): Promise<CameraSimulator> {
  const streams = [
    { name: 'cam1', codec: 'h264' as const, auth, audio: true },
    { name: 'cam3-h265', codec: 'h265' as const },
    { name: 'cam1-sub', codec: 'h264' as const, auth, sub: true },
    { name: 'cam3-sub', codec: 'h264' as const, sub: true },
  ]
  const port = Number(process.env.VMS_SIM_PORT ?? 8554)
  try {
    return await CameraSimulator.start({ port, streams })
  } catch {
    process.stderr.write(`Port ${port} is taken: the camera simulator takes a free port instead.\n`)
    return CameraSimulator.start({ port: 0, streams })
  }
}

/**
 * Two demo cameras in the agent's site, assigned to it and pointing at the simulator (its port and
 * password may change between starts, so the streams are rewritten each time).
 */
async function demoCameras(
  hub: HubContext,
  agentId: string,
  sim: CameraSimulator,
  auth: { username: string; password: string },
): Promise<string[]> {
  const cameras = [
    {
      name: 'Demo entrance (H.264 + AAC)',
      url: sim.url('cam1'),
      transport: 'tcp' as const,
      auth,
      // The live grid shows the sub stream (320x180), the single view the main one.
      sub: sim.url('cam1-sub'),
    },
    {
      name: 'Demo yard (H.265)',
      url: sim.url('cam3-h265'),
      transport: 'udp' as const,
      auth: undefined,
      // Browsers do not decode H.265 over WebRTC: live view takes the H.264 sub-stream.
      sub: sim.url('cam3-sub'),
    },
  ]
  const added = await hub.db.withSystem(async (tx) => {
    const [agent]: { tenant_id: string; site_id: string }[] = await tx.execute(
      'select tenant_id, site_id from agents where id = ?',
      [agentId],
    )
    if (!agent) return []
    const names: string[] = []
    for (const c of cameras) {
      const [existing]: { id: string }[] = await tx.execute(
        'select id from cameras where site_id = ? and name = ?',
        [agent.site_id, c.name],
      )
      const id = existing?.id ?? randomUUID()
      const streams = JSON.stringify(
        sealStreams(hub.secrets, { cameraId: id, agentId }, [
          {
            role: 'main',
            url: c.url,
            transport: c.transport,
            ...(c.auth ? { username: c.auth.username, password: c.auth.password } : {}),
          },
          ...(c.sub
            ? [
                {
                  role: 'sub' as const,
                  url: c.sub,
                  transport: 'tcp' as const,
                  ...(c.auth ? { username: c.auth.username, password: c.auth.password } : {}),
                },
              ]
            : []),
        ]),
      )
      if (existing) {
        await tx.execute(
          'update cameras set streams = ?::jsonb, agent_id = ?, updated_at = now() where id = ?',
          [streams, agentId, id],
        )
      } else {
        const room = await hub.licensing
          .assertCanAdd(tx, agent.tenant_id, 'cameras')
          .then(() => true)
          .catch(() => false)
        if (!room) continue
        await tx.execute(
          `insert into cameras (id, tenant_id, site_id, name, agent_id, streams) values (?, ?, ?, ?, ?, ?::jsonb)`,
          [id, agent.tenant_id, agent.site_id, c.name, agentId, streams],
        )
      }
      names.push(c.name)
    }
    await bumpConfigVersion(tx, agentId)
    return names
  })
  await publishDesiredConfig(hub.db, hub.agents.bus, hub.secrets, agentId)
  return added
}

try {
  // The demo talks to a person: warnings and the banner, not every request, unless asked for.
  const quiet = { ...process.env }
  quiet.VMS_LOG_LEVEL ||= 'warn'
  quiet.VMS_AGENT_LOG_LEVEL ||= 'warn'
  // Everything runs on this machine: announce loopback for live view even without a network.
  quiet.VMS_LIVE_HOST_ADDRESSES ||= '127.0.0.1'
  quiet.VMS_AGENT_LIVE_HOST_ADDRESSES ||= '127.0.0.1'
  const config = loadConfig(quiet)
  const settings = loadAgentSettings(quiet)
  let agent: EdgeAgent | undefined
  const simAuth = { username: 'demo', password: randomBytes(12).toString('base64url') }
  const sim = await startSimulator(simAuth)
  // Devices in front of the demo cameras, for trying "Add cameras", PTZ and device events: an
  // ONVIF camera, a two-channel Hikvision-like NVR and a Dahua-like camera (loopback only, same
  // credentials as the camera's RTSP; the demo goes on without them).
  let devices: SimulatedDevices | undefined
  try {
    devices = await SimulatedDevices.start({
      rtspBaseUrl: `rtsp://127.0.0.1:${sim.port}`,
      simulator: sim,
      devices: [
        { kind: 'onvif', name: 'demo-entrance', ...simAuth, streams: { main: 'cam1', sub: 'cam1-sub' } },
        {
          kind: 'isapi',
          name: 'demo-nvr',
          ...simAuth,
          channels: 2,
          streams: [
            { main: 'cam1', sub: 'cam1-sub' },
            { main: 'cam3-h265', sub: 'cam3-sub' },
          ],
        },
        { kind: 'dahua', name: 'demo-dahua', ...simAuth, streams: { main: 'cam3-h265', sub: 'cam3-sub' } },
      ],
    })
  } catch (err) {
    process.stderr.write(`No simulated ONVIF device: ${err instanceof Error ? err.message : String(err)}\n`)
  }
  const hub = await serveHub(config, [
    async () => agent?.stop(),
    async () => devices?.close(),
    () => sim.close(),
  ])
  const dir = settings.VMS_AGENT_DATA_DIR
  const known = hasCredentials(dir) && (await hub.context.agents.directory.get(readCredentials(dir).agentId))
  if (!known) {
    const { code, site } = await demoEnrollment(hub.context)
    await enroll({ hubUrl: hub.url, code, dataDir: dir, name: 'Demo agent', force: true })
    process.stderr.write(`Demo agent enrolled into site "${site}" (credentials in ${dir}).\n`)
  }
  agent = new EdgeAgent(
    settings,
    pino({ level: settings.VMS_AGENT_LOG_LEVEL, base: { service: 'ts-vms-agent' } }),
  )
  const cameras = await demoCameras(hub.context, agent.agentId, sim, simAuth)
  agent.start()
  process.stderr.write(
    `Camera simulator on rtsp://127.0.0.1:${sim.port}/ (cam1, cam1-sub, cam3-h265, cam3-sub).\n` +
      (devices
        ? `Simulated devices (user ${simAuth.username}, password in ${demoDevicePassword(dir, simAuth.password)}): ` +
          `ONVIF camera ${devices.get('demo-entrance').url} (WS-Discovery unicast at ${devices.discoveryTarget}), ` +
          `Hikvision-like NVR ${new URL(devices.get('demo-nvr').url).host}, Dahua-like camera ${new URL(devices.get('demo-dahua').url).host}.\n`
        : '') +
      `Open the web console at ${hub.url}/ and sign in as admin of tenant "system".\n` +
      `Demo agent ${agent.agentId} running; it reports to the hub every 10 s` +
      (cameras.length > 0 ? ` and records ${cameras.map((n) => `"${n}"`).join(' and ')}` : '') +
      ` (recordings in ${settings.VMS_AGENT_RECORDINGS_DIR}).\n\n`,
  )
} catch (err) {
  console.error(
    err instanceof ConfigError
      ? err.message
      : `start failed: ${err instanceof Error ? err.message : String(err)}`,
  )
  process.exit(1)
}

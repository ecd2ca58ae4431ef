import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub } from '../../hub/test/helpers/test-hub.ts'
import { CameraSimulator } from '../../scripts/camera-sim/simulator.ts'
import { freePort } from './helpers/agent-harness.ts'
import { analyticsMaterialMissing, CLIP, makePersonClip, SHARED_MODEL } from './helpers/person-clip.ts'
import { siteWithAgent, type TestSite } from './helpers/site.ts'
import { waitUntil } from './helpers/wait.ts'

/**
 * Models distributed by the hub, end to end (issue 13): an agent with no model of its own gets
 * the one uploaded to the hub when a camera names it, checks its SHA-256, installs it and runs
 * it; a camera naming a model the agent cannot have (`default`, not installed here) shows the
 * reason in its status while the agent records on.
 */
const missing = analyticsMaterialMissing()
if (missing) console.warn(`SKIPPING the model distribution end-to-end test: ${missing}`)

describe.skipIf(missing)('a model uploaded to the hub, run by an agent', () => {
  let dir: string
  let sim: CameraSimulator
  let t: TestHub
  let site: TestSite
  const model = missing ? Buffer.alloc(0) : readFileSync(SHARED_MODEL)
  const sha256 = createHash('sha256').update(model).digest('hex')

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'vms-models-'))
    const clip = await makePersonClip(path.join(dir, 'person.h264'))
    sim = await CameraSimulator.start({ streams: [{ name: 'shop', clipFile: clip, fps: CLIP.fps }] })
    t = await startTestHub({ VMS_MQTT_PORT: await freePort() }, { systemLicense: true })
    // No VMS_AGENT_DEFAULT_MODEL and nothing in its models directory: the agent has no model.
    site = await siteWithAgent(
      t,
      {
        VMS_AGENT_ANALYTICS_DETECTORS: 1,
        VMS_AGENT_SEGMENT_SECONDS: 2,
        VMS_AGENT_MIN_FREE_BYTES: 0,
      },
      { heartbeatSeconds: 2 },
    )
  }, 90_000)

  afterAll(async () => {
    await site?.agent.cleanup()
    await t?.close()
    await sim?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const camera = async (id: string) =>
    (await t.request('GET', `/api/v1/cameras/${id}`, { token: site.token })).body

  it('downloads, verifies and runs the model a camera names', async () => {
    const res = await fetch(`${t.url}/api/v1/models?id=nano&format=yolox`, {
      method: 'POST',
      headers: { authorization: `Bearer ${site.token}`, 'content-type': 'application/octet-stream' },
      body: model,
    })
    expect(res.status, await res.clone().text()).toBe(201)
    expect((await res.json()).sha256).toBe(sha256)

    const cameraId = await site.addCamera({
      name: 'Shop floor',
      streams: [{ role: 'main', url: sim.url('shop') }],
      analytics: { enabled: true, model: 'nano', objects: ['person'] },
    })
    let status: unknown
    await waitUntil(
      async () => {
        status = (await camera(cameraId)).analytics
        return (status as { state?: string; fps?: number })?.state === 'running'
      },
      60_000,
      'analytics running with the downloaded model',
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last status ${JSON.stringify(status)}`)
    })
    const modelsDir = path.join(site.agent.dataDir, 'models')
    expect(
      createHash('sha256')
        .update(readFileSync(path.join(modelsDir, 'nano.onnx')))
        .digest('hex'),
    ).toBe(sha256)
    expect(JSON.parse(readFileSync(path.join(modelsDir, 'nano.json'), 'utf8'))).toMatchObject({
      format: 'yolox',
      sha256,
    })
    // It analyses frames: the model really loaded.
    await waitUntil(
      async () => {
        status = (await camera(cameraId)).analytics
        return (status as { fps?: number; inferenceMsP50?: number }).inferenceMsP50! > 0
      },
      30_000,
      'inference times reported',
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last status ${JSON.stringify(status)}`)
    })
  }, 120_000)

  it('shows a camera whose model the agent lacks in error, and records it all the same', async () => {
    const cameraId = await site.addCamera({
      name: 'Back door',
      streams: [{ role: 'main', url: sim.url('shop') }],
      analytics: { enabled: true, model: 'default', objects: ['person'] },
    })
    let last: { analytics?: { state?: string; error?: string }; status?: unknown } = {}
    await waitUntil(
      async () => {
        last = await camera(cameraId)
        return (
          last.analytics?.state === 'error' &&
          /default model is not installed/.test(last.analytics.error ?? '') &&
          (last.status as { streams?: { recording?: boolean }[] })?.streams?.[0]?.recording === true
        )
      },
      60_000,
      'the default-model error in the status while the camera records',
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}; last ${JSON.stringify({ analytics: last.analytics, status: last.status })}`,
      )
    })
    expect(last.analytics?.error).toMatch(/VMS_AGENT_DEFAULT_MODEL/)
    // The agent is alive and well: still online, the first camera still analysing.
    const agent = await t.request('GET', `/api/v1/agents/${site.agent.agentId}`, { token: site.token })
    expect(agent.body.status).toBe('online')
    expect(site.agent.agent).toBeDefined()
  }, 90_000)
})

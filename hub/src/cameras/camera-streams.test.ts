import { randomBytes, randomUUID } from 'node:crypto'
import { agentAnalyticsConfig, analyticsConfigSchema, cameraPasswordContext, SecretBox } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import type { Camera, StoredCameraStream } from '../db/entities.ts'
import {
  agentConfigKey,
  cameraForAgent,
  StreamInputError,
  sealStreams,
  streamView,
} from './camera-streams.ts'

const box = new SecretBox(randomBytes(32))
const cameraId = randomUUID()
const agentA = randomUUID()
const agentB = randomUUID()
const onA = { cameraId, agentId: agentA }

const cameraOn = (agentId: string, streams: StoredCameraStream[]): Camera => {
  const now = new Date()
  return {
    id: cameraId,
    tenantId: randomUUID(),
    siteId: randomUUID(),
    name: 'Door',
    agentId,
    streams,
    recording: { enabled: true, retentionDays: 3 },
    createdAt: now,
    updatedAt: now,
  }
}

/** The password an agent opens from its configuration, if any. */
const openedBy = (agentId: string, camera: Camera) => {
  const sealed = cameraForAgent(box, agentId, camera).streams[0]?.passwordSealed
  return sealed === undefined
    ? undefined
    : new SecretBox(agentConfigKey(box, agentId))
        .open(sealed, cameraPasswordContext(cameraId, 'main'))
        .toString()
}

describe('camera stream credentials', () => {
  it('seals passwords bound to camera, role and agent, and never shows them', () => {
    const [s] = sealStreams(box, onA, [
      { role: 'main', url: 'rtsp://cam/1', username: 'u', password: 'pw-1' },
    ])
    expect(s?.passwordSealed).toBeDefined()
    expect(JSON.stringify(s)).not.toContain('pw-1')
    // Not the agent-neutral context: a ciphertext is good for one agent only.
    expect(() => box.open(s?.passwordSealed ?? '', cameraPasswordContext(cameraId, 'main'))).toThrow()
    expect(() => box.open(s?.passwordSealed ?? '', cameraPasswordContext(cameraId, 'sub'))).toThrow()
    expect(streamView(s as NonNullable<typeof s>)).toEqual({
      role: 'main',
      url: 'rtsp://cam/1',
      username: 'u',
      hasPassword: true,
      transport: 'tcp',
    })
  })

  it('keeps a password when only the path changes, drops it on null, and refuses a new host without one', () => {
    const before = sealStreams(box, onA, [
      { role: 'main', url: 'rtsp://cam:554/1', username: 'u', password: 'pw' },
    ])
    const samePath = sealStreams(box, onA, [{ role: 'main', url: 'rtsp://cam:554/2' }], before)
    expect(samePath[0]?.passwordSealed).toBe(before[0]?.passwordSealed)
    expect(samePath[0]?.username).toBe('u')
    const cleared = sealStreams(box, onA, [{ role: 'main', url: 'rtsp://cam:554/2', password: null }], before)
    expect(cleared[0]?.passwordSealed).toBeUndefined()
    expect(() => sealStreams(box, onA, [{ role: 'main', url: 'rtsp://other:554/2' }], before)).toThrow(
      /another host/,
    )
    expect(() =>
      sealStreams(box, onA, [
        { role: 'main', url: 'rtsp://a/1' },
        { role: 'main', url: 'rtsp://a/2' },
      ]),
    ).toThrow(/two streams/)
  })

  it('refuses to carry a stored password to another agent: it must be given again', () => {
    const before = sealStreams(box, onA, [{ role: 'main', url: 'rtsp://cam/1', password: 'pw' }])
    const move = { cameraId, agentId: agentB, previousAgentId: agentA }
    let error: unknown
    try {
      sealStreams(box, move, [{ role: 'main', url: 'rtsp://cam/1' }], before)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(StreamInputError)
    expect((error as StreamInputError).code).toBe('password_required')
    expect((error as Error).message).toMatch(/another agent/)
    // Given again, it is sealed for the new agent, which opens it; the old agent would not.
    const given = sealStreams(box, move, [{ role: 'main', url: 'rtsp://cam/1', password: 'pw-new' }], before)
    expect(openedBy(agentB, cameraOn(agentB, given))).toBe('pw-new')
    expect(openedBy(agentA, cameraOn(agentA, given))).toBeUndefined()
    // Unassigning keeps it (no agent receives anything); a stream without a password moves freely.
    const unassigned = { cameraId, agentId: null, previousAgentId: agentA }
    expect(
      sealStreams(box, unassigned, [{ role: 'main', url: 'rtsp://cam/1' }], before)[0]?.passwordSealed,
    ).toBe(before[0]?.passwordSealed)
    expect(sealStreams(box, move, [{ role: 'sub', url: 'rtsp://cam/2' }], before)).toEqual([
      { role: 'sub', url: 'rtsp://cam/2', transport: 'tcp' },
    ])
  })

  it('reseals for the agent under a key only that agent holds', () => {
    const streams = sealStreams(box, onA, [{ role: 'main', url: 'rtsp://cam/1', password: 'pw-2' }])
    const forAgent = cameraForAgent(box, agentA, cameraOn(agentA, streams))
    const sealed = forAgent.streams[0]?.passwordSealed ?? ''
    expect(sealed).not.toBe(streams[0]?.passwordSealed)
    const context = cameraPasswordContext(cameraId, 'main')
    expect(new SecretBox(agentConfigKey(box, agentA)).open(sealed, context).toString()).toBe('pw-2')
    expect(() => new SecretBox(agentConfigKey(box, randomUUID())).open(sealed, context)).toThrow()
    expect(() => box.open(sealed, context)).toThrow()
  })

  it('hands a stored password to no agent but the one it was given for', () => {
    const streams = sealStreams(box, onA, [
      { role: 'main', url: 'rtsp://cam/1', username: 'u', password: 'pw-3' },
    ])
    // However the camera came to be assigned to B, B gets the stream without the password.
    const forB = cameraForAgent(box, agentB, cameraOn(agentB, streams))
    expect(forB.streams[0]).toEqual({ role: 'main', url: 'rtsp://cam/1', username: 'u', transport: 'tcp' })
    // Given while the camera had no agent: no agent gets it until it is given for one.
    const unassigned = sealStreams(box, { cameraId, agentId: null }, [
      { role: 'main', url: 'rtsp://cam/1', password: 'pw-4' },
    ])
    expect(openedBy(agentA, cameraOn(agentA, unassigned))).toBeUndefined()
  })

  it('still delivers passwords stored before they were bound to an agent', () => {
    const legacy: StoredCameraStream[] = [
      {
        role: 'main',
        url: 'rtsp://cam/1',
        passwordSealed: box.seal('pw-old', cameraPasswordContext(cameraId, 'main')),
        transport: 'tcp',
      },
    ]
    expect(openedBy(agentA, cameraOn(agentA, legacy))).toBe('pw-old')
  })
})

describe('analytics as the agent receives them', () => {
  it('leaves motionSource out at its default (older agents refuse unknown keys) and sends "device"', () => {
    const analytics = analyticsConfigSchema(null).parse({ enabled: true })
    expect(analytics.motionSource).toBe('agent')
    const sent = cameraForAgent(box, agentA, { ...cameraOn(agentA, []), analytics }).analytics
    expect(sent).toBeDefined()
    expect(sent && 'motionSource' in sent).toBe(false)
    // What an agent of either age reads back is the same configuration.
    expect(agentAnalyticsConfig.parse(sent)).toEqual(analytics)
    const device = { ...analytics, motionSource: 'device' as const }
    expect(cameraForAgent(box, agentA, { ...cameraOn(agentA, []), analytics: device }).analytics).toEqual(
      device,
    )
  })
})

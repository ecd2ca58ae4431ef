import { randomBytes, randomUUID } from 'node:crypto'
import { cameraPasswordContext, SecretBox } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import { agentConfigKey, cameraForAgent, sealStreams, streamView } from './camera-streams.ts'

const box = new SecretBox(randomBytes(32))
const cameraId = randomUUID()

describe('camera stream credentials', () => {
  it('seals passwords bound to camera and role, and never shows them', () => {
    const [s] = sealStreams(box, cameraId, [
      { role: 'main', url: 'rtsp://cam/1', username: 'u', password: 'pw-1' },
    ])
    expect(s?.passwordSealed).toBeDefined()
    expect(JSON.stringify(s)).not.toContain('pw-1')
    expect(box.open(s?.passwordSealed ?? '', cameraPasswordContext(cameraId, 'main')).toString()).toBe('pw-1')
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
    const before = sealStreams(box, cameraId, [
      { role: 'main', url: 'rtsp://cam:554/1', username: 'u', password: 'pw' },
    ])
    const samePath = sealStreams(box, cameraId, [{ role: 'main', url: 'rtsp://cam:554/2' }], before)
    expect(samePath[0]?.passwordSealed).toBe(before[0]?.passwordSealed)
    expect(samePath[0]?.username).toBe('u')
    const cleared = sealStreams(
      box,
      cameraId,
      [{ role: 'main', url: 'rtsp://cam:554/2', password: null }],
      before,
    )
    expect(cleared[0]?.passwordSealed).toBeUndefined()
    expect(() => sealStreams(box, cameraId, [{ role: 'main', url: 'rtsp://other:554/2' }], before)).toThrow(
      /another host/,
    )
    expect(() =>
      sealStreams(box, cameraId, [
        { role: 'main', url: 'rtsp://a/1' },
        { role: 'main', url: 'rtsp://a/2' },
      ]),
    ).toThrow(/two streams/)
  })

  it('reseals for the agent under a key only that agent holds', () => {
    const agentId = randomUUID()
    const streams = sealStreams(box, cameraId, [{ role: 'main', url: 'rtsp://cam/1', password: 'pw-2' }])
    const now = new Date()
    const forAgent = cameraForAgent(box, agentId, {
      id: cameraId,
      tenantId: randomUUID(),
      siteId: randomUUID(),
      name: 'Door',
      agentId,
      streams,
      recording: { enabled: true, retentionDays: 3 },
      createdAt: now,
      updatedAt: now,
    })
    const sealed = forAgent.streams[0]?.passwordSealed ?? ''
    expect(sealed).not.toBe(streams[0]?.passwordSealed)
    const context = cameraPasswordContext(cameraId, 'main')
    expect(new SecretBox(agentConfigKey(box, agentId)).open(sealed, context).toString()).toBe('pw-2')
    expect(() => new SecretBox(agentConfigKey(box, randomUUID())).open(sealed, context)).toThrow()
    expect(() => box.open(sealed, context)).toThrow()
  })
})

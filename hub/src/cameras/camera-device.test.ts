import { randomBytes, randomUUID } from 'node:crypto'
import { devicePasswordContext, SecretBox } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import type { Camera, StoredCameraDevice } from '../db/entities.ts'
import {
  channelFor,
  DeviceInputError,
  deviceEndpoint,
  deviceHost,
  deviceView,
  sealDevice,
  unchangedDevice,
} from './camera-device.ts'
import { agentConfigKey, cameraForAgent } from './camera-streams.ts'

const box = new SecretBox(randomBytes(32))
const cameraId = randomUUID()
const agentA = randomUUID()
const agentB = randomUUID()
const onA = { cameraId, agentId: agentA }

const cameraOn = (agentId: string, device: StoredCameraDevice | null): Camera => {
  const now = new Date()
  return {
    id: cameraId,
    tenantId: randomUUID(),
    siteId: randomUUID(),
    name: 'Door',
    agentId,
    streams: [],
    recording: { enabled: true, retentionDays: 3 },
    device,
    createdAt: now,
    updatedAt: now,
  }
}

/** The device password an agent opens from its configuration, if any. */
const openedBy = (agentId: string, camera: Camera) => {
  const sealed = cameraForAgent(box, agentId, camera).device?.passwordSealed
  return sealed === undefined
    ? undefined
    : new SecretBox(agentConfigKey(box, agentId)).open(sealed, devicePasswordContext(cameraId)).toString()
}

const code = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    return err instanceof DeviceInputError ? err.code : 'other'
  }
  return undefined
}

describe('a camera device', () => {
  it('seals the password for the camera and its agent, and never shows it', () => {
    const d = sealDevice(box, onA, {
      protocol: 'isapi',
      address: '10.0.0.5',
      username: 'admin',
      password: 'pw-1',
    }) as StoredCameraDevice
    expect(JSON.stringify(d)).not.toContain('pw-1')
    expect(() => box.open(d.passwordSealed as string, devicePasswordContext(cameraId))).toThrow()
    expect(deviceView(d)).toEqual({
      protocol: 'isapi',
      address: '10.0.0.5',
      channel: '',
      username: 'admin',
      hasPassword: true,
      events: false,
      allowPasswordText: false,
    })
    expect(openedBy(agentA, cameraOn(agentA, d))).toBe('pw-1')
    // Assigned to another agent by any path: it arrives without the password.
    expect(openedBy(agentB, cameraOn(agentB, d))).toBeUndefined()
    expect(cameraForAgent(box, agentB, cameraOn(agentB, d)).device).toMatchObject({ address: '10.0.0.5' })
    expect(cameraForAgent(box, agentA, cameraOn(agentA, null))).not.toHaveProperty('device')
  })

  it('keeps a stored password only for the same address and agent', () => {
    const d = sealDevice(box, onA, { protocol: 'onvif', address: '10.0.0.5:80', password: 'pw' })
    const same = sealDevice(
      box,
      onA,
      { protocol: 'onvif', address: 'http://10.0.0.5:80/onvif/device_service' },
      d,
    )
    expect(same?.passwordSealed).toBe(d?.passwordSealed)
    expect(code(() => sealDevice(box, onA, { protocol: 'onvif', address: '10.0.0.5:8080' }, d))).toBe(
      'password_required',
    )
    expect(code(() => sealDevice(box, onA, { protocol: 'onvif', address: '10.0.0.6:80' }, d))).toBe(
      'password_required',
    )
    const moved = { cameraId, agentId: agentB, previousAgentId: agentA }
    expect(code(() => sealDevice(box, moved, unchangedDevice(d), d))).toBe('password_required')
    expect(sealDevice(box, moved, { ...unchangedDevice(d), password: null } as never, d)).not.toHaveProperty(
      'passwordSealed',
    )
    expect(sealDevice(box, onA, null, d)).toBeNull()
  })

  it('names hosts and endpoints as addresses write them', () => {
    expect(deviceEndpoint('http://CAM.example:8080/onvif')).toEqual({ host: 'cam.example', port: '8080' })
    expect(deviceEndpoint('10.0.0.5')).toEqual({ host: '10.0.0.5', port: '80' })
    expect(deviceEndpoint('https://10.0.0.5/onvif')).toEqual({ host: '10.0.0.5', port: '443' })
    expect(deviceHost('[fe80::1]:80')).toBe('fe80::1')
  })

  it('binds a camera to the channel named, or to the only one', () => {
    const ch = (channel: string) => ({ channel, name: '', streams: [], snapshot: false, ptz: false })
    const device = {
      address: '10.0.0.5',
      port: 80,
      manufacturer: null,
      model: null,
      firmware: null,
      serial: null,
      mac: null,
      name: null,
      protocols: [],
      onvifUrl: null,
      protocol: 'isapi' as const,
    }
    expect(channelFor({ device, channels: [ch('1')] }, '').channel).toBe('1')
    expect(channelFor({ device, channels: [ch('1'), ch('2')] }, '2').channel).toBe('2')
    expect(code(() => channelFor({ device, channels: [ch('1'), ch('2')] }, ''))).toBe('channel_required')
    expect(code(() => channelFor({ device, channels: [ch('1')] }, '3'))).toBe('channel_unknown')
    expect(code(() => channelFor({ device, channels: [] }, ''))).toBe('no_streams')
  })
})

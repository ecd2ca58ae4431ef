import type { AgentCameraDevice } from '@ts-vms/shared'
import { describe, expect, it } from 'vitest'
import { CameraDevice, dahuaMoveCodes, freePreset, presetNumber } from './camera-device.ts'
import { parsePresets as parseDahuaPresets } from './dahua/dahua-client.ts'
import type { TestDahuaDevice } from './dahua/test-dahua-device.ts'
import { DeviceError } from './device-probe.ts'
import { parsePtzChannels } from './isapi/isapi-client.ts'
import { TINY_JPEG } from './isapi/test-isapi-device.ts'
import {
  closedPort,
  dahuaDevice as dahua,
  failure,
  isapiDevice as isapi,
  silentLogger as logger,
  onCleanup,
  onvifDevice as onvif,
  waitFor,
} from './test-fixtures.ts'
import { parseXml } from './xml.ts'

function cameraDevice(
  device: Partial<AgentCameraDevice> & Pick<AgentCameraDevice, 'protocol' | 'address'>,
  password = 'secret',
) {
  const d = new CameraDevice({
    cameraId: '00000000-0000-4000-8000-000000000001',
    device: { channel: '', events: false, username: 'admin', ...device },
    password,
    logger,
  })
  onCleanup(() => d.close())
  return d
}

describe('camera device: pure parts', () => {
  it('turns a velocity into Dahua direction and zoom codes with speeds 1..8', () => {
    expect(dahuaMoveCodes(0.5, 0, 0)).toEqual([{ code: 'Right', arg1: 0, arg2: 4 }])
    expect(dahuaMoveCodes(-1, 0, 0)).toEqual([{ code: 'Left', arg1: 0, arg2: 8 }])
    expect(dahuaMoveCodes(0, 0.1, 0)).toEqual([{ code: 'Up', arg1: 0, arg2: 1 }])
    expect(dahuaMoveCodes(0.25, -0.75, 0)).toEqual([{ code: 'RightDown', arg1: 6, arg2: 2 }])
    expect(dahuaMoveCodes(0.01, 0, -0.5)).toEqual([{ code: 'ZoomWide', arg1: 0, arg2: 4 }])
    expect(dahuaMoveCodes(0, 0, 0)).toEqual([])
  })

  it('picks the lowest free preset number, skipping reserved ones', () => {
    expect(freePreset([])).toBe(1)
    expect(freePreset([1, 2, 4])).toBe(3)
    expect(
      freePreset(
        Array.from({ length: 32 }, (_, i) => i + 1),
        new Set([33, 34]),
      ),
    ).toBe(35)
    expect(() => freePreset(Array.from({ length: 255 }, (_, i) => i + 1))).toThrow(DeviceError)
    expect(presetNumber('12')).toBe(12)
    expect(() => presetNumber('preset1')).toThrow(/not a preset number/)
    expect(() => presetNumber('0')).toThrow(DeviceError)
  })
})

describe('camera device: vendor PTZ answers', () => {
  it('reads Dahua preset lists by Index, whatever the order or junk', () => {
    expect(
      parseDahuaPresets(
        'presets[1].Index=7\r\npresets[1].Name=Yard\r\npresets[0].Index=2\r\npresets[0].Name=\r\n' +
          'presets[2].Name=no index\r\npresets[3].Index=99999\r\n__proto__=x\r\n',
      ),
    ).toEqual([{ id: 2 }, { id: 7, name: 'Yard' }])
    expect(parseDahuaPresets('')).toEqual([])
  })

  it('reads the ISAPI PTZ channel list, enabled channels only', () => {
    const doc = parseXml(
      '<PTZChannelList xmlns="http://www.hikvision.com/ver20/XMLSchema"><PTZChannel><id>1</id><enabled>true</enabled></PTZChannel>' +
        '<PTZChannel><id>2</id><enabled>false</enabled></PTZChannel><PTZChannel><id>x</id></PTZChannel>' +
        '<PTZChannel><id>3</id></PTZChannel></PTZChannelList>',
    )
    expect(parsePtzChannels(doc)).toEqual([1, 3])
  })
})

describe('camera device: ONVIF', () => {
  it('takes a snapshot from GetSnapshotUri with HTTP Digest, connecting once', async () => {
    const jpeg = Buffer.concat([TINY_JPEG, Buffer.from('x')])
    const { d, url } = await onvif({ snapshotJpeg: jpeg })
    const cam = cameraDevice({ protocol: 'onvif', address: url })
    expect(await cam.snapshot()).toEqual(jpeg)
    expect(await cam.snapshot()).toEqual(jpeg)
    expect(d.log.filter((l) => l.startsWith('GetServices'))).toHaveLength(1)
    expect(d.log.filter((l) => l.startsWith('GetSnapshotUri'))).toHaveLength(1)
    expect(d.log.filter((l) => l === 'snapshot:http-digest')).toHaveLength(2)
  })

  it('moves with a Timeout and stops by itself after timeoutMs; a new move replaces the timer', async () => {
    const { d, url } = await onvif()
    const cam = cameraDevice({ protocol: 'onvif', address: url })
    expect(await cam.ptz({ action: 'move', pan: 0.5, tilt: -0.2, zoom: 0, timeoutMs: 60_000 })).toEqual({})
    expect(cam.moving).toBe(true)
    const move = d.ptzCalls.find((c) => c.operation === 'ContinuousMove')
    expect(move?.body).toContain('PT60S')
    // The second move's short timer replaces the first one's long one.
    await cam.ptz({ action: 'move', pan: -0.5, tilt: 0, zoom: 0, timeoutMs: 30 })
    await waitFor(() => d.ptzCalls.some((c) => c.operation === 'Stop'), 'the timer’s Stop')
    expect(d.ptzCalls.map((c) => c.operation)).toEqual(['ContinuousMove', 'ContinuousMove', 'Stop'])
    expect(cam.moving).toBe(false)
  })

  it('a stop cancels the timer (one Stop, not two)', async () => {
    const { d, url } = await onvif()
    const cam = cameraDevice({ protocol: 'onvif', address: url })
    await cam.ptz({ action: 'move', pan: 0, tilt: 0, zoom: 0.3, timeoutMs: 5000 })
    await cam.ptz({ action: 'stop' })
    expect(cam.moving).toBe(false)
    expect(d.ptzCalls.map((c) => c.operation)).toEqual(['ContinuousMove', 'Stop'])
  })

  it('sets, lists, goes to, overwrites and removes presets; goes home', async () => {
    const { d, url } = await onvif()
    const cam = cameraDevice({ protocol: 'onvif', address: url, channel: 'main' })
    const { preset } = await cam.ptz({ action: 'set', name: 'Gate' })
    expect(preset).toBe('preset1')
    expect(await cam.presets()).toEqual({ presets: [{ preset: 'preset1', name: 'Gate' }] })
    await cam.ptz({ action: 'goto', preset: 'preset1' })
    expect(await cam.ptz({ action: 'set', preset: 'preset1' })).toEqual({ preset: 'preset1' })
    expect(d.ptzCalls.at(-1)?.body).toContain('<tptz:PresetToken>preset1</tptz:PresetToken>')
    await cam.ptz({ action: 'home' })
    await cam.ptz({ action: 'remove', preset: 'preset1' })
    expect(await cam.presets()).toEqual({ presets: [] })
    expect(await failure(cam.ptz({ action: 'goto', preset: 'nope' }))).toMatchObject({
      status: 404,
      code: 'preset_unknown',
    })
    expect(d.ptzCalls.map((c) => c.operation)).toEqual([
      'SetPreset',
      'GotoPreset',
      'SetPreset',
      'GotoHomePosition',
      'RemovePreset',
      'GotoPreset',
    ])
  })

  it('uses the first profile with PTZ when the channel is empty; refuses a profile without PTZ', async () => {
    const { d, url } = await onvif({
      profiles: [
        { token: 'fixed', ptz: false },
        { token: 'dome', width: 1280, height: 720 },
      ],
    })
    await cameraDevice({ protocol: 'onvif', address: url }).ptz({ action: 'home' })
    expect(d.ptzCalls.at(-1)?.body).toContain('<tptz:ProfileToken>dome</tptz:ProfileToken>')
    const fixed = cameraDevice({ protocol: 'onvif', address: url, channel: 'fixed' })
    expect(
      await failure(fixed.ptz({ action: 'move', pan: 1, tilt: 0, zoom: 0, timeoutMs: 1000 })),
    ).toMatchObject({
      status: 409,
      code: 'PTZ_UNSUPPORTED',
    })
    expect(fixed.moving).toBe(false) // refused: nothing to stop
  })

  it('refuses PTZ on a device without a PTZ service, and says DEVICE_AUTH for a wrong password', async () => {
    const { url } = await onvif({ ptz: false })
    expect(await failure(cameraDevice({ protocol: 'onvif', address: url }).presets())).toMatchObject({
      code: 'PTZ_UNSUPPORTED',
    })
    expect(
      await failure(cameraDevice({ protocol: 'onvif', address: url }, 'wrong').snapshot()),
    ).toMatchObject({
      status: 422,
      code: 'DEVICE_AUTH',
    })
  })
})

describe('camera device: Hikvision ISAPI', () => {
  it('snapshots the channel picture', async () => {
    const d = await isapi()
    expect(await cameraDevice({ protocol: 'isapi', address: d.url }).snapshot()).toEqual(TINY_JPEG)
  })

  it('moves, and stops by itself: a PUT continuous with zero speeds', async () => {
    const d = await isapi({ ptzChannels: [1] })
    const cam = cameraDevice({ protocol: 'isapi', address: d.url, channel: '1' })
    await cam.ptz({ action: 'move', pan: 0.5, tilt: 0, zoom: -1, timeoutMs: 20 })
    const continuous = () => d.requests.filter((r) => r.url === '/ISAPI/PTZCtrl/channels/1/continuous')
    await waitFor(() => continuous().length === 2, 'the move and its stop')
    expect(continuous().map((r) => r.body.replace(/^<\?xml[^>]*>/, ''))).toEqual([
      '<PTZData><pan>50</pan><tilt>0</tilt><zoom>-100</zoom></PTZData>',
      '<PTZData><pan>0</pan><tilt>0</tilt><zoom>0</zoom></PTZData>',
    ])
  })

  it('sets presets at the lowest free number, names them, removes them; goes home', async () => {
    const d = await isapi({ ptzChannels: [1] })
    const cam = cameraDevice({ protocol: 'isapi', address: d.url })
    expect(await cam.ptz({ action: 'set', name: 'Gate <1>' })).toEqual({ preset: '1' })
    expect(await cam.ptz({ action: 'set' })).toEqual({ preset: '2' })
    expect(await cam.presets()).toEqual({
      presets: [
        { preset: '1', name: 'Gate &#60;1&#62;' }, // the test device keeps the escaped text as sent
        { preset: '2', name: 'Preset 2' },
      ],
    })
    await cam.ptz({ action: 'goto', preset: '2' })
    await cam.ptz({ action: 'remove', preset: '1' })
    await cam.ptz({ action: 'home' })
    expect(d.requests.slice(-3).map((r) => `${r.method} ${r.url}`)).toEqual([
      'PUT /ISAPI/PTZCtrl/channels/1/presets/2/goto',
      'DELETE /ISAPI/PTZCtrl/channels/1/presets/1',
      'PUT /ISAPI/PTZCtrl/channels/1/homeposition/goto',
    ])
    expect(await failure(cam.ptz({ action: 'goto', preset: 'abc' }))).toMatchObject({ status: 400 })
  })

  it('refuses PTZ on a channel without it, before anything moves', async () => {
    const d = await isapi({ ptzChannels: [2] })
    const cam = cameraDevice({ protocol: 'isapi', address: d.url, channel: '1' })
    expect(
      await failure(cam.ptz({ action: 'move', pan: 1, tilt: 0, zoom: 0, timeoutMs: 1000 })),
    ).toMatchObject({
      status: 409,
      code: 'PTZ_UNSUPPORTED',
    })
    const fixed = await isapi()
    expect(await failure(cameraDevice({ protocol: 'isapi', address: fixed.url }).presets())).toMatchObject({
      code: 'PTZ_UNSUPPORTED',
    })
    expect(d.requests.some((r) => r.url.endsWith('/continuous'))).toBe(false)
  })
})

describe('camera device: Dahua', () => {
  const ptzCalls = (d: TestDahuaDevice) =>
    d.requests
      .filter(
        (r) =>
          r.url.startsWith('/cgi-bin/ptz.cgi?action=start') ||
          r.url.startsWith('/cgi-bin/ptz.cgi?action=stop'),
      )
      .map((r) => r.url.replace('/cgi-bin/ptz.cgi?', ''))

  it('moves with direction codes and stops them by itself', async () => {
    const d = await dahua({ ptz: true })
    const cam = cameraDevice({ protocol: 'dahua', address: d.url, channel: '2' })
    await cam.ptz({ action: 'move', pan: -1, tilt: 1, zoom: 0.5, timeoutMs: 20 })
    await waitFor(() => ptzCalls(d).filter((c) => c.startsWith('action=stop')).length === 2, 'both stops')
    expect(ptzCalls(d)).toEqual([
      'action=start&channel=2&code=LeftUp&arg1=8&arg2=8&arg3=0',
      'action=start&channel=2&code=ZoomTele&arg1=0&arg2=4&arg3=0',
      'action=stop&channel=2&code=LeftUp&arg1=0&arg2=0&arg3=0',
      'action=stop&channel=2&code=ZoomTele&arg1=0&arg2=0&arg3=0',
    ])
  })

  it('sets and clears presets; home is preset 1 and refused without it', async () => {
    const d = await dahua({ ptz: true })
    const cam = cameraDevice({ protocol: 'dahua', address: d.url })
    expect(await failure(cam.ptz({ action: 'home' }))).toMatchObject({ status: 409, code: 'PTZ_UNSUPPORTED' })
    expect(await cam.ptz({ action: 'set', name: 'ignored' })).toEqual({ preset: '1' })
    expect(await cam.ptz({ action: 'set', preset: '7' })).toEqual({ preset: '7' })
    expect(await cam.presets()).toEqual({
      presets: [
        { preset: '1', name: 'Preset1' },
        { preset: '7', name: 'Preset7' },
      ],
    })
    await cam.ptz({ action: 'home' })
    await cam.ptz({ action: 'remove', preset: '7' })
    expect(ptzCalls(d)).toEqual([
      'action=start&channel=1&code=SetPreset&arg1=0&arg2=1&arg3=0',
      'action=start&channel=1&code=SetPreset&arg1=0&arg2=7&arg3=0',
      'action=start&channel=1&code=GotoPreset&arg1=0&arg2=1&arg3=0',
      'action=start&channel=1&code=ClearPreset&arg1=0&arg2=7&arg3=0',
    ])
  })

  it('snapshots; refuses PTZ on a fixed camera; DEVICE_AUTH for a wrong password', async () => {
    const d = await dahua()
    expect(await cameraDevice({ protocol: 'dahua', address: d.url }).snapshot()).toEqual(TINY_JPEG)
    expect(await failure(cameraDevice({ protocol: 'dahua', address: d.url }).presets())).toMatchObject({
      code: 'PTZ_UNSUPPORTED',
    })
    expect(
      await failure(cameraDevice({ protocol: 'dahua', address: d.url }, 'wrong').snapshot()),
    ).toMatchObject({
      code: 'DEVICE_AUTH',
    })
  })
})

describe('camera device: no device API', () => {
  it('rtsp: no device snapshot, no PTZ', async () => {
    const cam = cameraDevice({ protocol: 'rtsp', address: '10.0.0.1' })
    expect(cam.hasSnapshot).toBe(false)
    expect(await failure(cam.snapshot())).toMatchObject({ code: 'no_device_snapshot' })
    expect(await failure(cam.ptz({ action: 'stop' }))).toMatchObject({ status: 409, code: 'PTZ_UNSUPPORTED' })
    expect(await failure(cam.presets())).toMatchObject({ code: 'PTZ_UNSUPPORTED' })
  })

  it('an unreachable device is DEVICE_UNREACHABLE, and a move to it still gets its stop', async () => {
    const port = await closedPort()
    const cam = cameraDevice({ protocol: 'isapi', address: `127.0.0.1:${port}` })
    expect(await failure(cam.snapshot())).toMatchObject({ status: 422, code: 'DEVICE_UNREACHABLE' })
    expect(
      await failure(cam.ptz({ action: 'move', pan: 1, tilt: 0, zoom: 0, timeoutMs: 60_000 })),
    ).toMatchObject({
      code: 'DEVICE_UNREACHABLE',
    })
    // It may have got the move: the timer stays armed.
    expect(cam.moving).toBe(true)
  })
})

describe('camera device: ONVIF PasswordText only when the camera allows it', () => {
  it('refuses a firmware that takes nothing but PasswordText, unless allowPasswordText is set', async () => {
    const textOnly = { acceptTokenDigest: false, acceptHttpDigest: false, acceptTokenText: true }
    const { url } = await onvif({ password: 'secret', ...textOnly })
    expect(await failure(cameraDevice({ protocol: 'onvif', address: url }).snapshot())).toMatchObject({
      status: 422,
      code: 'DEVICE_AUTH',
    })
    const allowed = cameraDevice({ protocol: 'onvif', address: url, allowPasswordText: true })
    expect((await allowed.snapshot()).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]))
  })
})

/**
 * What the hub's device API says (issue 14): discovery, probes, a camera's device binding, bulk
 * import results and PTZ presets. The shapes follow the hub's exact contract (docs/devices.md).
 */
export type DeviceProtocol = 'onvif' | 'isapi' | 'dahua' | 'rtsp'
export type ProbeProtocol = 'auto' | 'onvif' | 'isapi' | 'dahua'

export const PROTOCOL_NAMES: Record<DeviceProtocol, string> = {
  onvif: 'ONVIF',
  isapi: 'Hikvision ISAPI',
  dahua: 'Dahua',
  rtsp: 'RTSP only (no device API)',
}

export interface DiscoveredDevice {
  address: string
  port: number
  manufacturer: string | null
  model: string | null
  firmware: string | null
  serial: string | null
  mac: string | null
  name: string | null
  protocols: string[]
  onvifUrl: string | null
  cameraId: string | null
}

export interface ProbedStream {
  role: 'main' | 'sub'
  url: string
  codec: string | null
  width: number | null
  height: number | null
  fps: number | null
}

export interface ProbedChannel {
  channel: string
  name: string
  streams: ProbedStream[]
  snapshot: boolean
  ptz: boolean
  online?: boolean
}

export interface ProbeResult {
  device: Omit<DiscoveredDevice, 'cameraId'> & { protocol: DeviceProtocol; cameraId?: string | null }
  channels: ProbedChannel[]
}

/** A camera's device as the hub shows it: never the password, only whether one is set. */
export interface CameraDevice {
  protocol: DeviceProtocol
  address: string
  channel: string
  username: string | null
  hasPassword: boolean
  events: boolean
  /** ONVIF: the password may go in clear when neither digest works (old firmware). */
  allowPasswordText: boolean
}

export interface BulkResult {
  row: number
  status: 'created' | 'error'
  cameraId?: string
  name?: string
  error?: { code: string; message: string } | string
}

export interface PtzPreset {
  preset: string
  name: string
}

/** The readable text of a bulk row's error (the hub gives an error object; be lenient). */
export const bulkErrorText = (e: BulkResult['error']): string =>
  e === undefined ? '' : typeof e === 'string' ? e : e.message || e.code

/** "1920×1080 H264 25 fps" for a probed stream, leaving out what the device did not say. */
export function describeStream(s: ProbedStream): string {
  return [
    s.width && s.height ? `${s.width}×${s.height}` : '',
    s.codec ? s.codec.toUpperCase() : '',
    s.fps ? `${Math.round(s.fps * 10) / 10} fps` : '',
  ]
    .filter(Boolean)
    .join(' ')
}

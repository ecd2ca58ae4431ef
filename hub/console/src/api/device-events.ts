import type { VmsEvent } from './types.ts'

/**
 * Events a camera or recorder raised itself (issue 14): `device.*` types with
 * `data = { state: start|end|pulse, source, code, channel, region?, raw? }`.
 */
export const DEVICE_EVENT_LABELS: Record<string, string> = {
  'device.motion': 'Device motion',
  'device.line_crossing': 'Line crossing',
  'device.intrusion': 'Intrusion',
  'device.tamper': 'Tampering',
  'device.video_loss': 'Video loss',
  'device.input': 'Alarm input',
  'device.other': 'Device event',
}
export const DEVICE_EVENT_TYPES = Object.keys(DEVICE_EVENT_LABELS)

export const isDeviceEvent = (e: Pick<VmsEvent, 'type'>) => e.type.startsWith('device.')

/** "Line crossing" for a known type, else the type itself. */
export const deviceEventLabel = (type: string) => DEVICE_EVENT_LABELS[type] ?? type

const STATES: Record<string, string> = { start: 'started', end: 'ended', pulse: '' }

/** "started", "ended" or "" (a pulse has no duration); an unknown state as given. */
export function deviceEventState(e: VmsEvent): string {
  const state = typeof e.data.state === 'string' ? e.data.state : ''
  return STATES[state] ?? state
}

/** "ISAPI linedetection, channel 2, region Door": where the event came from, as the device said. */
export function deviceEventDetail(e: VmsEvent): string {
  const d = e.data
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '')
  const source = text(d.source).toUpperCase()
  const code = text(d.code)
  return [
    [source, code].filter(Boolean).join(' '),
    text(d.channel) && `channel ${text(d.channel)}`,
    text(d.region) && `region ${text(d.region)}`,
    typeof d.endReason === 'string' ? `ended by the agent: ${d.endReason}` : '',
  ]
    .filter(Boolean)
    .join(', ')
}

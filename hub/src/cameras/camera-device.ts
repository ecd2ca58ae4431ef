import {
  type AgentCameraDevice,
  type CameraSnapshotResult,
  cameraSnapshotResult,
  type DeviceProbeResult,
  type DeviceProtocol,
  devicePasswordContext,
  deviceProbeResult,
  type ProbedChannel,
  type ProbeProtocol,
  parseHostPort,
  probePasswordContext,
  type SecretBox,
  SecretBox as SecretBoxClass,
  SecretBoxError,
} from '@ts-vms/shared'
import type { AgentRequests } from '../agents/agent-requests.ts'
import type { Camera, StoredCameraDevice } from '../db/entities.ts'
import type { StreamOwner } from './camera-streams.ts'

/**
 * A camera's device (issue 14): the ONVIF, ISAPI or Dahua device the camera is, or is a channel
 * of, with the credentials its agent talks to it with. The password follows the stream passwords'
 * rules (camera-streams.ts): sealed at once with the hub's master key, bound to the camera and to
 * the agent it was given for, opened only to reseal it under that agent's configuration key, never
 * returned (views say `hasPassword`). A password typed for a probe is sealed for the agent alone,
 * bound to that one request, and never stored.
 */
export interface DeviceInput {
  protocol: DeviceProtocol
  address: string
  channel?: string
  /** A string sets it, null clears it, absent keeps the stored one. */
  username?: string | null
  /** A string sets it, null clears it, absent keeps the stored one (same address and agent only). */
  password?: string | null
  events?: boolean
  allowPasswordText?: boolean
}

export class DeviceInputError extends Error {
  override name = 'DeviceInputError'
  constructor(
    message: string,
    /** `password_required`: a stored password would go somewhere new; it must be given again. */
    readonly code:
      | 'invalid_device'
      | 'password_required'
      | 'channel_required'
      | 'channel_unknown'
      | 'no_streams' = 'invalid_device',
  ) {
    super(message)
  }
}

/** The associated data of a device password at rest: the camera and the agent it was given for. */
const atRestContext = (cameraId: string, agentId: string | null) =>
  `${devicePasswordContext(cameraId)}:agent:${agentId ?? 'none'}`

/**
 * Where an address points, for "is this the same device": host and port as written (an ONVIF URL's
 * path is not the device). A different port on the same host may be a different device behind a
 * NAT's port forwarding, so it counts as somewhere else.
 */
export function deviceEndpoint(address: string): { host: string; port: string } {
  if (/^https?:\/\//i.test(address)) {
    const u = new URL(address)
    return { host: u.hostname.toLowerCase(), port: u.port || (u.protocol === 'https:' ? '443' : '80') }
  }
  // A bare host is its HTTP port, as ONVIF, ISAPI and Dahua all default to.
  const hp = parseHostPort(address)
  return { host: (hp?.host ?? address).toLowerCase(), port: String(hp?.port ?? 80) }
}

const sameEndpoint = (a: string, b: string) => {
  const x = deviceEndpoint(a)
  const y = deviceEndpoint(b)
  return x.host === y.host && x.port === y.port
}

/** The host an address names, without brackets or port (what discovery reports as `address`). */
export const deviceHost = (address: string) => deviceEndpoint(address).host.replace(/^\[|\]$/g, '')

/** A device as stored, from what the API was given (null: the camera has no device). */
export function sealDevice(
  box: SecretBox,
  owner: StreamOwner,
  input: DeviceInput | null,
  existing?: StoredCameraDevice | null,
): StoredCameraDevice | null {
  if (input === null) return null
  const { cameraId, agentId } = owner
  const moved = agentId !== null && owner.previousAgentId !== undefined && owner.previousAgentId !== agentId
  let passwordSealed: string | undefined
  if (typeof input.password === 'string') {
    passwordSealed = box.seal(input.password, atRestContext(cameraId, agentId))
  } else if (input.password === undefined && existing?.passwordSealed) {
    // As for streams: keeping a password for another agent would hand it to whoever holds that
    // agent's key, and keeping it for another address to whoever runs that address.
    if (moved)
      throw new DeviceInputError(
        "the camera moves to another agent: give the device's password again (or null for none)",
        'password_required',
      )
    if (!sameEndpoint(existing.address, input.address))
      throw new DeviceInputError(
        'the device moved to another address: give its password again (or null for none)',
        'password_required',
      )
    passwordSealed = existing.passwordSealed
  }
  const username = input.username === null ? undefined : (input.username ?? existing?.username)
  return {
    protocol: input.protocol,
    address: input.address,
    channel: input.channel ?? existing?.channel ?? '',
    ...(username ? { username } : {}),
    ...(passwordSealed ? { passwordSealed } : {}),
    events: input.events ?? existing?.events ?? false,
    ...((input.allowPasswordText ?? existing?.allowPasswordText) ? { allowPasswordText: true } : {}),
  }
}

/** The stored device as input that changes nothing (its password kept where allowed). */
export const unchangedDevice = (d: StoredCameraDevice | null | undefined): DeviceInput | null =>
  d
    ? {
        protocol: d.protocol,
        address: d.address,
        channel: d.channel,
        events: d.events,
        allowPasswordText: d.allowPasswordText === true,
      }
    : null

/** The API's view of a device: never the password, sealed or not. */
export const deviceView = (d: StoredCameraDevice) => ({
  protocol: d.protocol,
  address: d.address,
  channel: d.channel,
  username: d.username ?? null,
  hasPassword: Boolean(d.passwordSealed),
  events: d.events,
  allowPasswordText: d.allowPasswordText === true,
})

/** The stored password in clear, if it was given for this agent (undefined otherwise). */
function passwordFor(box: SecretBox, cameraId: string, sealed: string, agentId: string): Buffer | undefined {
  try {
    return box.open(sealed, atRestContext(cameraId, agentId))
  } catch (err) {
    if (!(err instanceof SecretBoxError)) throw err
    return undefined
  }
}

/**
 * The camera's device as its agent receives it: the password resealed under the agent's
 * configuration key (`agentBox`), and only if it was given for that agent.
 */
export function deviceForAgent(
  box: SecretBox,
  agentBox: SecretBox,
  agentId: string,
  camera: Camera,
): AgentCameraDevice | undefined {
  const d = camera.device
  if (!d) return undefined
  const password = d.passwordSealed ? passwordFor(box, camera.id, d.passwordSealed, agentId) : undefined
  return {
    protocol: d.protocol,
    address: d.address,
    channel: d.channel,
    ...(d.username ? { username: d.username } : {}),
    ...(password ? { passwordSealed: agentBox.seal(password, devicePasswordContext(camera.id)) } : {}),
    events: d.events,
    // Only when set: an agent built before the setting refuses unknown keys.
    ...(d.allowPasswordText ? { allowPasswordText: true } : {}),
  }
}

/**
 * The probed channel a camera binds to: the one its `channel` names; with none named, the device's
 * only channel (a device with several needs one named: which camera would it be?).
 */
export function channelFor(result: DeviceProbeResult, channel: string): ProbedChannel {
  if (channel !== '') {
    const found = result.channels.find((c) => c.channel === channel)
    if (!found)
      throw new DeviceInputError(
        `the device has no channel "${channel}" (it has: ${result.channels.map((c) => c.channel).join(', ') || 'none'})`,
        'channel_unknown',
      )
    return found
  }
  const [only, ...more] = result.channels
  if (!only) throw new DeviceInputError('the device reports no camera channel', 'no_streams')
  if (more.length > 0)
    throw new DeviceInputError(
      `the device serves ${result.channels.length} channels: name one in device.channel (${result.channels
        .slice(0, 8)
        .map((c) => `"${c.channel}"`)
        .join(
          ', ',
        )}${result.channels.length > 8 ? ', ...' : ''}), or import them all with POST /api/v1/cameras/bulk`,
      'channel_required',
    )
  return only
}

/** What a probe is asked: where, how, and the credentials an installer typed (never stored). */
export interface ProbeInput {
  address: string
  protocol: ProbeProtocol
  username?: string | undefined
  password?: string | undefined
}

/**
 * Asks an agent what a device is and which cameras it serves. The password travels sealed under
 * the agent's configuration key and bound to this request's id, so a copy of the message is no use
 * for another request. Throws AgentRequestError (the agent's 422 DEVICE_AUTH, DEVICE_UNREACHABLE,
 * DEVICE_PROTOCOL, or the hub's 502/503/504).
 */
export function probeDevice(
  requests: AgentRequests,
  agentConfigKey: Buffer,
  agentId: string,
  timeoutMs: number,
  input: ProbeInput,
): Promise<DeviceProbeResult> {
  const agentBox: SecretBox = new SecretBoxClass(agentConfigKey)
  return requests.callParsed(
    agentId,
    timeoutMs,
    (id) => ({
      op: 'device.probe',
      address: input.address,
      protocol: input.protocol,
      ...(input.username ? { username: input.username } : {}),
      ...(input.password ? { passwordSealed: agentBox.seal(input.password, probePasswordContext(id)) } : {}),
    }),
    deviceProbeResult,
  )
}

/** A device channel to take a still of before it is added (the "Add cameras" preview). */
export interface PreviewInput {
  address: string
  protocol: 'onvif' | 'isapi' | 'dahua'
  channel: string
  username?: string | undefined
  password?: string | undefined
}

/**
 * Asks an agent for a still from a device channel's own snapshot, with the credentials an installer
 * typed: sealed like a probe's, for this request alone. Throws AgentRequestError as probeDevice.
 */
export function previewSnapshot(
  requests: AgentRequests,
  agentConfigKey: Buffer,
  agentId: string,
  timeoutMs: number,
  input: PreviewInput,
): Promise<CameraSnapshotResult> {
  const agentBox: SecretBox = new SecretBoxClass(agentConfigKey)
  return requests.callParsed(
    agentId,
    timeoutMs,
    (id) => ({
      op: 'device.snapshot',
      address: input.address,
      protocol: input.protocol,
      channel: input.channel,
      ...(input.username ? { username: input.username } : {}),
      ...(input.password ? { passwordSealed: agentBox.seal(input.password, probePasswordContext(id)) } : {}),
    }),
    cameraSnapshotResult,
  )
}

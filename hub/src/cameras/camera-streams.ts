import {
  type AgentCamera,
  agentConfigKeyPurpose,
  cameraPasswordContext,
  type SecretBox,
  SecretBox as SecretBoxClass,
  SecretBoxError,
  type StreamRole,
} from '@ts-vms/shared'
import type { Camera, StoredCameraStream } from '../db/entities.ts'
import { deviceForAgent } from './camera-device.ts'

/**
 * Camera streams and their credentials. A password arrives in clear over the API (TLS), is sealed
 * at once with the hub's master key (bound to camera and role) and is opened only to reseal it
 * under the configuration key of the agent that dials the camera. It never leaves in clear and no
 * response carries it: views say `hasPassword`.
 *
 * A stored password is sealed for one agent: the one the camera was assigned to when the password
 * was given (its id is part of the associated data). Whoever gives a password chooses who dials
 * with it; nobody can later redirect it to another agent (one they enrolled, and so hold the
 * configuration key of) without typing it again, which they could only do if they knew it.
 */
export interface StreamInput {
  role: StreamRole
  url: string
  username?: string | null
  /** A string sets it, null clears it, absent keeps the stored one (if host and agent are unchanged). */
  password?: string | null
  transport?: 'tcp' | 'udp'
}

export class StreamInputError extends Error {
  override name = 'StreamInputError'
  constructor(
    message: string,
    /** `password_required`: a stored password would go somewhere new; it must be given again. */
    readonly code: 'invalid_streams' | 'password_required' = 'invalid_streams',
  ) {
    super(message)
  }
}

/** Whose streams are sealed, and for which agent. */
export interface StreamOwner {
  cameraId: string
  /** The agent that will dial the streams (null: none yet); passwords are sealed for it alone. */
  agentId: string | null
  /** The camera's agent before this change, when it may differ (a move). */
  previousAgentId?: string | null
}

/**
 * The associated data of a password at rest: camera, role and the agent it was given for. The
 * agent's copy uses `cameraPasswordContext` alone (it is under that agent's own key already).
 */
const atRestContext = (cameraId: string, role: StreamRole, agentId: string | null) =>
  `${cameraPasswordContext(cameraId, role)}:agent:${agentId ?? 'none'}`

const hostOf = (url: string) => {
  const u = new URL(url)
  return `${u.protocol}//${u.host}`
}

export function sealStreams(
  box: SecretBox,
  owner: StreamOwner,
  input: readonly StreamInput[],
  existing: readonly StoredCameraStream[] = [],
): StoredCameraStream[] {
  const { cameraId, agentId } = owner
  const moved = agentId !== null && owner.previousAgentId !== undefined && owner.previousAgentId !== agentId
  const roles = new Set<string>()
  return input.map((s) => {
    if (roles.has(s.role)) throw new StreamInputError(`two streams have the role "${s.role}"`)
    roles.add(s.role)
    const before = existing.find((e) => e.role === s.role)
    let passwordSealed: string | undefined
    if (typeof s.password === 'string') {
      passwordSealed = box.seal(s.password, atRestContext(cameraId, s.role, agentId))
    } else if (s.password === undefined && before?.passwordSealed) {
      // Keeping a password for another agent would hand it to whoever holds that agent's key (a
      // site-manager enrolls agents, and the enroll answer carries the key).
      if (moved)
        throw new StreamInputError(
          `the camera moves to another agent: give the ${s.role} stream's password again (or null for none)`,
          'password_required',
        )
      // Keeping a password for a different host would hand it to whoever runs that host.
      if (hostOf(before.url) !== hostOf(s.url))
        throw new StreamInputError(
          `the ${s.role} stream moved to another host: give its password again (or null for none)`,
        )
      passwordSealed = before.passwordSealed
    }
    const username = s.username === null ? undefined : (s.username ?? before?.username)
    return {
      role: s.role,
      url: s.url,
      ...(username ? { username } : {}),
      ...(passwordSealed ? { passwordSealed } : {}),
      transport: s.transport ?? before?.transport ?? 'tcp',
    }
  })
}

/** The API's view of a stream: never the password, sealed or not. */
export const streamView = (s: StoredCameraStream) => ({
  role: s.role,
  url: s.url,
  username: s.username ?? null,
  hasPassword: Boolean(s.passwordSealed),
  transport: s.transport,
})

/** The agent's key for secrets in its configuration (derived, so the hub stores nothing more). */
export const agentConfigKey = (box: SecretBox, agentId: string): Buffer =>
  box.deriveKey(agentConfigKeyPurpose(agentId))

/**
 * A stored password, if it was given for this agent: undefined when it was given for another one
 * (or for none), however the camera came to be assigned here.
 */
function passwordFor(box: SecretBox, cameraId: string, role: StreamRole, sealed: string, agentId: string) {
  for (const context of [
    atRestContext(cameraId, role, agentId),
    // Stored before passwords were bound to an agent: the API's move rule guards those alone.
    cameraPasswordContext(cameraId, role),
  ]) {
    try {
      return box.open(sealed, context)
    } catch (err) {
      if (!(err instanceof SecretBoxError)) throw err
    }
  }
  return undefined
}

/**
 * Analytics as an agent reads them. A setting at its default is left out: agents built before the
 * setting existed refuse unknown keys, and a fleet is upgraded site by site.
 */
function forAgent(analytics: NonNullable<Camera['analytics']>): NonNullable<Camera['analytics']> {
  const { motionSource, ...rest } = analytics
  return motionSource === 'device' ? analytics : (rest as NonNullable<Camera['analytics']>)
}

/**
 * A camera as its agent receives it: passwords resealed under that agent's configuration key, and
 * only those given for that agent (the agent dials without the others, and reports the refusal).
 */
export function cameraForAgent(box: SecretBox, agentId: string, camera: Camera): AgentCamera {
  const agentBox = new SecretBoxClass(agentConfigKey(box, agentId))
  const device = deviceForAgent(box, agentBox, agentId, camera)
  return {
    id: camera.id,
    name: camera.name,
    recording: camera.recording,
    streams: camera.streams.map((s) => {
      const context = cameraPasswordContext(camera.id, s.role)
      const password = s.passwordSealed
        ? passwordFor(box, camera.id, s.role, s.passwordSealed, agentId)
        : undefined
      return {
        role: s.role,
        url: s.url,
        ...(s.username ? { username: s.username } : {}),
        ...(password ? { passwordSealed: agentBox.seal(password, context) } : {}),
        transport: s.transport,
      }
    }),
    // Only when set: an agent reads an absent `analytics` as off, as it did before the field.
    ...(camera.analytics ? { analytics: forAgent(camera.analytics) } : {}),
    // Only when set: an agent reads an absent `device` as a plain stream (no device API).
    ...(device ? { device } : {}),
  }
}

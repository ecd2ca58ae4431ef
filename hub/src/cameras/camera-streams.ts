import {
  type AgentCamera,
  agentConfigKeyPurpose,
  cameraPasswordContext,
  type SecretBox,
  SecretBox as SecretBoxClass,
  type StreamRole,
} from '@ts-vms/shared'
import type { Camera, StoredCameraStream } from '../db/entities.ts'

/**
 * Camera streams and their credentials. A password arrives in clear over the API (TLS), is sealed
 * at once with the hub's master key (bound to camera and role) and is opened only to reseal it
 * under the configuration key of the agent that dials the camera. It never leaves in clear and no
 * response carries it: views say `hasPassword`.
 */
export interface StreamInput {
  role: StreamRole
  url: string
  username?: string | null
  /** A string sets it, null clears it, absent keeps the stored one (if the camera's host is unchanged). */
  password?: string | null
  transport?: 'tcp' | 'udp'
}

export class StreamInputError extends Error {
  override name = 'StreamInputError'
}

const hostOf = (url: string) => {
  const u = new URL(url)
  return `${u.protocol}//${u.host}`
}

export function sealStreams(
  box: SecretBox,
  cameraId: string,
  input: readonly StreamInput[],
  existing: readonly StoredCameraStream[] = [],
): StoredCameraStream[] {
  const roles = new Set<string>()
  return input.map((s) => {
    if (roles.has(s.role)) throw new StreamInputError(`two streams have the role "${s.role}"`)
    roles.add(s.role)
    const before = existing.find((e) => e.role === s.role)
    let passwordSealed: string | undefined
    if (typeof s.password === 'string') {
      passwordSealed = box.seal(s.password, cameraPasswordContext(cameraId, s.role))
    } else if (s.password === undefined && before?.passwordSealed) {
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

/** A camera as its agent receives it: passwords resealed under that agent's configuration key. */
export function cameraForAgent(box: SecretBox, agentId: string, camera: Camera): AgentCamera {
  const agentBox = new SecretBoxClass(agentConfigKey(box, agentId))
  return {
    id: camera.id,
    name: camera.name,
    recording: camera.recording,
    streams: camera.streams.map((s) => {
      const context = cameraPasswordContext(camera.id, s.role)
      return {
        role: s.role,
        url: s.url,
        ...(s.username ? { username: s.username } : {}),
        ...(s.passwordSealed
          ? { passwordSealed: agentBox.seal(box.open(s.passwordSealed, context), context) }
          : {}),
        transport: s.transport,
      }
    }),
  }
}

/**
 * MQTT topics between agents and the hub. Everything an agent sends lives under its own `up/`
 * branch and everything it receives under its own `down/` branch, so one ACL rule per direction
 * isolates agents from each other (see docs/protocol.md).
 */
export const TOPIC_ROOT = 'vms/v1/agents'

/**
 * `objects`: the objects analytics tracks on a camera now, while someone watches it live (the live
 * view's overlay). Ephemeral: QoS 0, never stored, every hub gets it (like `response`).
 */
export type UpKind = 'messages' | 'status' | 'response' | 'objects'
export type DownKind = 'ack' | 'config' | 'request'

export const upTopic = (agentId: string, kind: UpKind) => `${TOPIC_ROOT}/${agentId}/up/${kind}`
export const downTopic = (agentId: string, kind: DownKind) => `${TOPIC_ROOT}/${agentId}/down/${kind}`

const TOPIC = /^vms\/v1\/agents\/([0-9a-f-]{36})\/(up|down)\/([a-z]+)$/

export function parseTopic(
  topic: string,
): { agentId: string; direction: 'up' | 'down'; kind: string } | undefined {
  const m = TOPIC.exec(topic)
  if (!m) return undefined
  return { agentId: m[1] as string, direction: m[2] as 'up' | 'down', kind: m[3] as string }
}

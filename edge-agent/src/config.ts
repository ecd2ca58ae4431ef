import path from 'node:path'
import { z } from 'zod'

/** Agent settings, from the environment; a bad value stops the agent with the key named. */
const positiveInt = z.coerce.number().int().positive()

export const agentConfigSchema = z.object({
  VMS_AGENT_DATA_DIR: z.string().min(1).default('./data/agent'),
  VMS_AGENT_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Bound of the outbox (bytes); beyond it health is coalesced and non-essential work refused. */
  VMS_AGENT_OUTBOX_MAX_BYTES: positiveInt.default(256 * 1024 * 1024),
  /** Resend what the hub has not acknowledged after this long without progress. */
  VMS_AGENT_ACK_TIMEOUT_MS: positiveInt.default(5000),
  /** Most messages in flight (sent, not yet acknowledged). */
  VMS_AGENT_MAX_INFLIGHT: positiveInt.default(2000),
  VMS_AGENT_BATCH_MAX: positiveInt.max(500).default(500),
})

export type AgentSettings = z.infer<typeof agentConfigSchema>

export function loadAgentSettings(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Record<string, unknown> = {},
) {
  const values: Record<string, unknown> = {}
  for (const key of Object.keys(agentConfigSchema.shape)) if (env[key]) values[key] = env[key]
  const parsed = agentConfigSchema.safeParse({ ...values, ...overrides })
  if (!parsed.success) {
    throw new Error(
      `invalid agent configuration:\n  ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n  ')}`,
    )
  }
  return { ...parsed.data, VMS_AGENT_DATA_DIR: path.resolve(parsed.data.VMS_AGENT_DATA_DIR) }
}

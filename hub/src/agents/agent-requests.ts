import { randomUUID } from 'node:crypto'
import {
  type DownRequest,
  decode,
  downTopic,
  PROTOCOL_VERSION,
  type UpResponse,
  upResponse,
} from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { z } from 'zod'
import type { AgentBus } from '../mqtt/agent-bus.ts'

/**
 * Requests from the hub to an agent behind NAT: published on the agent's `down/request`, answered
 * on its `up/response` — or, for an export or a playback segment, by the agent uploading the file over HTTPS (the only
 * connections are the agent's outbound ones). Each request has a deadline: the agent drops what it
 * receives too late and the hub stops waiting, answering the user 504.
 *
 * Pending requests live in this process, so with several hub instances the agent's upload must
 * reach the instance that asked (sticky routing on the upload path); see docs/architecture.md.
 */
export class AgentRequestError extends Error {
  override name = 'AgentRequestError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

type RequestBody = DownRequest extends infer R
  ? R extends unknown
    ? Omit<R, 'v' | 'id' | 'deadline'>
    : never
  : never

interface Pending {
  agentId: string
  op: DownRequest['op']
  resolve: (value: unknown) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class AgentRequests {
  private readonly pending = new Map<string, Pending>()

  constructor(
    private readonly bus: AgentBus,
    private readonly logger: Logger,
  ) {}

  /**
   * Sends a request and waits for its answer. `build` receives the request id (an export's upload
   * path names it). Resolves with the response's result, or with what `complete()` is given.
   */
  async call<T>(agentId: string, timeoutMs: number, build: (id: string) => RequestBody): Promise<T> {
    const id = randomUUID()
    const request = {
      v: PROTOCOL_VERSION,
      id,
      deadline: new Date(Date.now() + timeoutMs).toISOString(),
      ...build(id),
    } as DownRequest
    const answer = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(
          new AgentRequestError(
            504,
            'agent_timeout',
            `the agent did not answer within ${Math.round(timeoutMs / 1000)} s`,
          ),
        )
      }, timeoutMs)
      timer.unref()
      this.pending.set(id, {
        agentId,
        op: request.op,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
      })
    })
    try {
      await this.bus.publish(downTopic(agentId, 'request'), JSON.stringify(request), { retain: false })
    } catch (err) {
      this.settle(id)?.reject(
        new AgentRequestError(503, 'broker_unavailable', `cannot reach the agent: ${(err as Error).message}`),
      )
    }
    return answer
  }

  /**
   * A request whose answer must match `schema`: an agent is not trusted to answer well, and what it
   * sends that does not fit is refused as 502 `bad_agent_answer`.
   */
  async callParsed<S extends z.ZodType>(
    agentId: string,
    timeoutMs: number,
    build: (id: string) => RequestBody,
    schema: S,
  ): Promise<z.infer<S>> {
    const parsed = schema.safeParse(await this.call<unknown>(agentId, timeoutMs, build))
    if (!parsed.success)
      throw new AgentRequestError(502, 'bad_agent_answer', 'the agent answered something unreadable')
    return parsed.data
  }

  /** A request of this agent waiting for an upload (an export, or a playback segment), if any. */
  awaitingUpload(
    id: string,
    agentId: string,
    op: 'recordings.export' | 'recordings.segment' = 'recordings.export',
  ): boolean {
    const p = this.pending.get(id)
    return p !== undefined && p.agentId === agentId && p.op === op
  }

  /** Settles a request with a value produced on the hub (the verified upload). */
  complete(id: string, value: unknown): boolean {
    const p = this.settle(id)
    p?.resolve(value)
    return p !== undefined
  }

  /** Settles a request with a failure found on the hub (an upload it refused). */
  fail(id: string, err: AgentRequestError): boolean {
    const p = this.settle(id)
    p?.reject(err)
    return p !== undefined
  }

  /** An `up/response` from an agent. Answers to unknown or foreign requests are dropped. */
  handleResponse(agentId: string, payload: Buffer): boolean {
    const parsed = decode(upResponse, payload)
    if (!parsed.ok) return false
    const r: UpResponse = parsed.value
    const p = this.pending.get(r.id)
    if (!p || p.agentId !== agentId) {
      this.logger.debug({ agentId, id: r.id }, 'response to no pending request (late or foreign)')
      return false
    }
    this.settle(r.id)
    if (r.ok) p.resolve(r.result ?? {})
    else
      p.reject(
        new AgentRequestError(
          r.error?.status ?? 502,
          r.error?.code ?? 'agent_error',
          r.error?.message ?? 'the agent could not do it',
        ),
      )
    return true
  }

  private settle(id: string): Pending | undefined {
    const p = this.pending.get(id)
    if (!p) return undefined
    clearTimeout(p.timer)
    this.pending.delete(id)
    return p
  }

  close(): void {
    for (const id of [...this.pending.keys()])
      this.settle(id)?.reject(new AgentRequestError(503, 'shutting_down', 'the hub is shutting down'))
  }
}

import type { DownRequest, UpResponse } from '@ts-vms/shared'
import type { Logger } from 'pino'

/**
 * The agent's side of one `down/request`: dropped unanswered past its deadline (the hub has
 * stopped waiting), else done and answered on `up/response` — ok with the work's result, or an
 * error: the one `known` maps the failure to (a client's mistake or a state the user should read),
 * else 502 with the message, logged. Work that answers another way (an export's upload) returns
 * undefined and nothing is sent on success.
 */
export interface ErrorAnswer {
  status: number
  code: string
  message: string
}

export async function answerRequest(
  request: DownRequest,
  o: { logger: Logger; respond: (response: Omit<UpResponse, 'v'>) => Promise<void> },
  work: () => Promise<Record<string, unknown> | undefined>,
  known: (err: unknown) => ErrorAnswer | undefined,
): Promise<void> {
  if (Date.parse(request.deadline) < Date.now()) {
    o.logger.info({ id: request.id, op: request.op }, 'dropped a request past its deadline')
    return
  }
  try {
    const result = await work()
    if (result !== undefined) await o.respond({ id: request.id, ok: true, result })
  } catch (err) {
    const answer = known(err)
    if (!answer) o.logger.error({ err, id: request.id, op: request.op }, 'request failed')
    await o.respond({
      id: request.id,
      ok: false,
      error: answer
        ? { ...answer, message: answer.message.slice(0, 1000) }
        : {
            status: 502,
            code: 'agent_failed',
            message: `the agent failed: ${(err as Error).message}`.slice(0, 1000),
          },
    })
  }
}

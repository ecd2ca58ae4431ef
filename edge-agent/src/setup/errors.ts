import type { z } from 'zod'

/** A client's mistake (or the hub's or a device's failure) as the wizard answers it: `{error: {code, message}}`. */
export class ClientError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly details?: unknown,
  ) {
    super(message)
  }
}

/** A body that does not match its schema: a 400 naming the first problem, echoing nothing sent. */
export function invalid(error: z.ZodError): ClientError {
  const issue = error.issues[0]
  const field = issue?.path.join('.')
  const message =
    issue?.code === 'unrecognized_keys'
      ? `Unexpected field: ${issue.keys.join(', ')}.`
      : issue?.code === 'invalid_type'
        ? `${field || 'The body'}: missing or of the wrong type.`
        : `${issue?.message ?? 'Invalid request.'}`
  return new ClientError(400, 'BAD_REQUEST', message, {}, field ? { field } : undefined)
}

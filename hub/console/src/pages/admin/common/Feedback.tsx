import { ErrorNotice } from '../../../components/ErrorNotice.tsx'

/** The outcome of the last action on a page: a status line, or a readable error. */
export interface Outcome {
  ok: boolean
  text: string
}

export function Feedback({ outcome }: { outcome: Outcome | undefined }) {
  if (!outcome) return null
  return outcome.ok ? (
    <p role="status" className="notice">
      {outcome.text}
    </p>
  ) : (
    <ErrorNotice message={outcome.text} />
  )
}

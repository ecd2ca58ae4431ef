import { type ReactNode, useId, useState } from 'react'
import { describeError } from '../../../api/client.ts'
import { ErrorNotice } from '../../../components/ErrorNotice.tsx'

interface Props<T> {
  heading: string
  submitLabel: string
  /** Sends the form's fields (read from FormData); the hub's refusal shows in place. */
  create: (fields: FormData) => Promise<T>
  /** After success; the form is emptied first. */
  onCreated: (created: T) => void
  className?: string
  children: ReactNode
}

/**
 * An administration page's "New …" form: its fields (children, read by name), the hub's refusal
 * shown readably in place, and the submit button, busy while the request runs.
 */
export function CreateForm<T>({ heading, submitLabel, create, onCreated, className, children }: Props<T>) {
  const headingId = useId()
  const [error, setError] = useState<string>()
  const [creating, setCreating] = useState(false)
  const submit = async (form: HTMLFormElement) => {
    setCreating(true)
    setError(undefined)
    try {
      const created = await create(new FormData(form))
      form.reset()
      onCreated(created)
    } catch (err) {
      setError(describeError(err))
    } finally {
      setCreating(false)
    }
  }
  return (
    <form
      className={className ?? 'stack-form adm-form'}
      aria-labelledby={headingId}
      onSubmit={(e) => {
        e.preventDefault()
        void submit(e.currentTarget)
      }}
    >
      <h2 id={headingId}>{heading}</h2>
      {children}
      <ErrorNotice message={error} />
      <div>
        <button type="submit" disabled={creating}>
          {creating ? 'Creating…' : submitLabel}
        </button>
      </div>
    </form>
  )
}

/** A form field's trimmed text ('' when absent). */
export const fieldText = (fields: FormData, name: string): string => String(fields.get(name) ?? '').trim()

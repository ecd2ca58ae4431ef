import { type FormEvent, type ReactNode, useEffect, useId, useRef, useState } from 'react'
import { describeError } from '../../../api/client.ts'
import { FormActions } from './FormActions.tsx'

interface Props<T> {
  heading: string
  saveLabel: string
  /** Sends the changes; undefined when nothing changed (the form just closes). */
  save: () => Promise<T> | undefined
  /** Called with the updated resource, or with nothing on Cancel or no change. */
  onDone: (updated?: T) => void
  children: ReactNode
}

/**
 * An administration page's edit form: its fields (children), the hub's refusal shown readably in
 * place, Save (busy while the request runs) and Cancel; the first field has the focus.
 */
export function EditForm<T>({ heading, saveLabel, save, onDone, children }: Props<T>) {
  const headingId = useId()
  const form = useRef<HTMLFormElement>(null)
  const [error, setError] = useState<string>()
  const [saving, setSaving] = useState(false)
  useEffect(() => form.current?.querySelector<HTMLElement>('input, select, textarea')?.focus(), [])
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const request = save()
    if (!request) return onDone()
    setSaving(true)
    setError(undefined)
    try {
      onDone(await request)
    } catch (err) {
      setError(describeError(err))
      setSaving(false)
    }
  }
  return (
    <form
      ref={form}
      className="stack-form adm-form"
      aria-labelledby={headingId}
      onSubmit={(e) => void submit(e)}
    >
      <h2 id={headingId}>{heading}</h2>
      {children}
      <FormActions error={error} saving={saving} saveLabel={saveLabel} onCancel={() => onDone()} />
    </form>
  )
}

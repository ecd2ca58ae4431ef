import { type ReactNode, useId, useRef, useState } from 'react'

/**
 * A button for a destructive action that asks first: it opens a modal <dialog> (focus moves into
 * it, Escape cancels) naming what will happen, and runs the action only on the explicit
 * confirmation. Cancel is the first control, so Enter on an open dialog does nothing harmful.
 */
export function ConfirmButton({
  label,
  title,
  message,
  confirmLabel,
  onConfirm,
  className = 'danger',
  disabled,
  accessibleName,
}: {
  label: string
  title: string
  message: ReactNode
  confirmLabel: string
  onConfirm: () => unknown
  className?: string
  disabled?: boolean
  /** A fuller name for the button when its label alone is ambiguous (e.g. one per table row). */
  accessibleName?: string
}) {
  const dialog = useRef<HTMLDialogElement>(null)
  const titleId = useId()
  const [busy, setBusy] = useState(false)
  const confirm = async () => {
    dialog.current?.close()
    setBusy(true)
    try {
      await onConfirm()
    } finally {
      setBusy(false)
    }
  }
  return (
    <>
      <button
        type="button"
        className={className}
        disabled={disabled || busy}
        aria-label={accessibleName}
        onClick={() => dialog.current?.showModal()}
      >
        {label}
      </button>
      <dialog ref={dialog} className="confirm-dialog" aria-labelledby={titleId}>
        <h2 id={titleId}>{title}</h2>
        <div>{message}</div>
        <div className="inline-form dialog-actions">
          <button type="button" className="ghost" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button type="button" className="danger" onClick={() => void confirm()}>
            {confirmLabel}
          </button>
        </div>
      </dialog>
    </>
  )
}

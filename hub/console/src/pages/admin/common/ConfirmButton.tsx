import { type ReactNode, useId, useRef, useState } from 'react'

/**
 * A button for a destructive action that asks first: it opens a modal <dialog> (focus moves into
 * it, Escape cancels) that says what will happen, and runs the action only on the explicit
 * confirmation. Cancel comes first, so Enter on a freshly opened dialog does nothing harmful.
 */
export function ConfirmButton({
  label,
  accessibleName,
  title,
  message,
  confirmLabel,
  onConfirm,
  className = 'danger small',
  disabled,
}: {
  /** The button's visible text. */
  label: string
  /** A fuller name when the label alone is ambiguous (one button per row); starts with the label. */
  accessibleName?: string
  title: string
  message: ReactNode
  confirmLabel: string
  onConfirm: () => unknown
  className?: string
  disabled?: boolean
}) {
  const dialog = useRef<HTMLDialogElement>(null)
  const titleId = useId()
  const messageId = useId()
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
        aria-haspopup="dialog"
        onClick={() => dialog.current?.showModal()}
      >
        {busy ? `${label}…` : label}
      </button>
      <dialog ref={dialog} className="adm-dialog" aria-labelledby={titleId} aria-describedby={messageId}>
        <h2 id={titleId}>{title}</h2>
        <div id={messageId}>{message}</div>
        <div className="adm-dialog-actions">
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

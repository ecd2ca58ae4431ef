import { useState } from 'react'

/** Selects the text of an element (an input's value, or any element's content). */
function selectText(el: HTMLElement): void {
  if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) {
    el.focus()
    el.select()
    return
  }
  const range = document.createRange()
  range.selectNodeContents(el)
  const selection = window.getSelection()
  selection?.removeAllRanges()
  selection?.addRange(range)
}

/**
 * Copies a text to the clipboard. Where the browser refuses (no clipboard API outside a secure
 * context, or permission denied) it selects the text in the element `targetId` instead, so that
 * Ctrl+C copies it, and says so.
 */
export function CopyButton({
  text,
  targetId,
  label = 'Copy',
  accessibleName,
}: {
  text: string
  targetId: string
  label?: string
  accessibleName?: string
}) {
  const [status, setStatus] = useState('')
  const copy = async () => {
    try {
      if (!navigator.clipboard?.writeText) throw new Error('no clipboard')
      await navigator.clipboard.writeText(text)
      setStatus('Copied to the clipboard.')
    } catch {
      const el = document.getElementById(targetId)
      if (el) selectText(el)
      let copied = false
      try {
        // The older way, still honoured by browsers while the text is selected after a click.
        copied = document.execCommand('copy')
      } catch {}
      setStatus(copied ? 'Copied to the clipboard.' : 'Selected: press Ctrl+C (⌘C on a Mac) to copy.')
    }
  }
  return (
    <span className="adm-copy">
      <button type="button" className="ghost small" aria-label={accessibleName} onClick={() => void copy()}>
        {label}
      </button>
      <span role="status" className="muted small-text">
        {status}
      </span>
    </span>
  )
}

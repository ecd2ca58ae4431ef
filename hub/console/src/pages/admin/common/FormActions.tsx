import { ErrorNotice } from '../../../components/ErrorNotice.tsx'

/** The foot of an administration form: the hub's refusal, Save (busy while saving) and Cancel. */
export function FormActions({
  error,
  saving,
  saveLabel,
  onCancel,
}: {
  error: string | undefined
  saving: boolean
  saveLabel: string
  onCancel: () => void
}) {
  return (
    <>
      <ErrorNotice message={error} />
      <div className="adm-form-actions">
        <button type="submit" disabled={saving}>
          {saving ? 'Saving…' : saveLabel}
        </button>
        <button type="button" className="ghost" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </>
  )
}

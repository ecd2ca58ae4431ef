/** A readable error with an optional retry; never raw JSON. */
export function ErrorNotice({ message, onRetry }: { message: string | undefined; onRetry?: () => void }) {
  if (!message) return null
  return (
    <div role="alert" className="error-box">
      <span>{message}</span>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  )
}

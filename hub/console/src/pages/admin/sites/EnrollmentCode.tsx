import { useEffect, useId, useRef } from 'react'
import type { Site } from '../../../api/types.ts'
import { formatDuration, formatTime } from '../../../components/format.ts'
import { CopyButton } from '../common/CopyButton.tsx'

export interface Enrollment {
  site: Site
  code: string
  expiresAt: string
}

/**
 * A fresh enrollment code. The hub keeps only its hash, so this is the one time anyone sees it:
 * the panel says so, offers to copy the code (and the command that enrolls an agent with it), and
 * says when it expires. Closing the panel forgets the code.
 */
export function EnrollmentCode({ enrollment, onDone }: { enrollment: Enrollment; onDone: () => void }) {
  const codeId = useId()
  const commandId = useId()
  const titleId = useId()
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => heading.current?.focus(), [])
  const command = `npm run agent -- enroll --hub ${window.location.origin} --code ${enrollment.code}`
  const validFor = Date.parse(enrollment.expiresAt) - Date.now()
  return (
    <section className="card adm-enrollment" aria-labelledby={titleId}>
      <h2 id={titleId} ref={heading} tabIndex={-1}>
        Enrollment code for {enrollment.site.name}
      </h2>
      <p>
        Shown only this once: copy it now. It enrolls one agent into {enrollment.site.name} and expires{' '}
        <time dateTime={enrollment.expiresAt}>{formatTime(enrollment.expiresAt)}</time>
        {validFor > 0 && ` (in ${formatDuration(validFor)})`}.
      </p>
      <div className="adm-secret-field">
        <label>
          Enrollment code
          <input
            id={codeId}
            className="secret"
            readOnly
            value={enrollment.code}
            spellCheck={false}
            autoComplete="off"
            onFocus={(e) => e.currentTarget.select()}
          />
        </label>
        <CopyButton
          text={enrollment.code}
          targetId={codeId}
          label="Copy"
          accessibleName="Copy the enrollment code"
        />
      </div>
      <div className="adm-secret-field">
        <label>
          Command to run on the agent's machine
          <input
            id={commandId}
            className="adm-cmd"
            readOnly
            value={command}
            spellCheck={false}
            autoComplete="off"
            onFocus={(e) => e.currentTarget.select()}
          />
        </label>
        <CopyButton text={command} targetId={commandId} label="Copy" accessibleName="Copy the command" />
      </div>
      <div className="adm-card-actions">
        <button type="button" className="ghost" onClick={onDone}>
          Done, hide the code
        </button>
      </div>
    </section>
  )
}

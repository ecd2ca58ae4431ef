import type { ReactNode } from 'react'
import type { Status, Step, StepState } from '../api.ts'

const LABEL: Record<StepState, string> = {
  done: 'done',
  current: 'to do now',
  waiting: 'waiting',
  unavailable: 'needs the hub',
  later: 'later',
}

/** The steps in order, with where each stands. */
export function StepList({ steps }: { steps: Step[] }) {
  return (
    <nav aria-label="Setup steps" className="step-list">
      <ol>
        {steps.map((s) => (
          <li
            key={s.id}
            className={`step-${s.state}`}
            aria-current={s.state === 'current' ? 'step' : undefined}
          >
            <a href={`#step-${s.id}`}>{s.title}</a> <span className="state">({LABEL[s.state]})</span>
          </li>
        ))}
      </ol>
    </nav>
  )
}

/** A step's frame: its number and title, and why it cannot be done now when it cannot. */
export function StepSection(props: { n: number; step: Step; children?: ReactNode }) {
  const { n, step } = props
  return (
    <section
      id={`step-${step.id}`}
      aria-labelledby={`step-${step.id}-title`}
      className={`card step-${step.state}`}
    >
      <h2 id={`step-${step.id}-title`}>
        {n}. {step.title}
      </h2>
      {step.reason && step.state !== 'done' && <p className="reason">{step.reason}</p>}
      {props.children}
    </section>
  )
}

/** What App gives each step: its number and state, the wizard's status, and how to report. */
export interface StepProps {
  n: number
  step: Step
  status: Status
  onStatus: (s: Status) => void
  onError: (err: unknown) => string
}

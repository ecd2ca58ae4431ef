import type { Step } from '../api.ts'
import { StepSection } from './StepList.tsx'

const WHAT: Record<string, string> = {
  cameras: 'Find the cameras on this network, add them to the site and watch each one live to check it.',
  recording: "Check this machine's recording disk and choose how long video is kept.",
  finish: 'Check that everything works, then close the wizard.',
}

/** A step this version lays out but does not do yet. */
export function LaterStep({ n, step }: { n: number; step: Step }) {
  return (
    <StepSection n={n} step={step}>
      <p>{WHAT[step.id]}</p>
    </StepSection>
  )
}

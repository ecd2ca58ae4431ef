import { type ComponentProps, type ReactNode, useId } from 'react'

/**
 * A labelled <select> whose accessible name is exactly its label: a <select> inside a <label> is
 * otherwise named by the label's whole text, the selected option included.
 */
export function SelectField({
  label,
  children,
  ...props
}: { label: ReactNode; children: ReactNode } & ComponentProps<'select'>) {
  const id = useId()
  return (
    <label>
      <span id={id}>{label}</span>
      <select aria-labelledby={id} {...props}>
        {children}
      </select>
    </label>
  )
}

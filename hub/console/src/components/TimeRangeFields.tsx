import { toLocalInput } from './format.ts'

/**
 * "From" and "To" of a filter form, in the browser's zone to the second, named `from` and `to`
 * (read back with fromLocalInput); their defaults are the filter's ISO times.
 */
export function TimeRangeFields({ from, to }: { from: string | undefined; to: string | undefined }) {
  return (
    <>
      <label>
        From
        <input name="from" type="datetime-local" step={1} defaultValue={from ? toLocalInput(from) : ''} />
      </label>
      <label>
        To
        <input name="to" type="datetime-local" step={1} defaultValue={to ? toLocalInput(to) : ''} />
      </label>
    </>
  )
}

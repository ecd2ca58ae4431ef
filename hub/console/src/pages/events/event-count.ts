/**
 * The events page's count: "1 event", "1,234 events", or "10,000+ events" when the hub stopped
 * counting at its cap (`totalExact` false: the total is a floor).
 */
export function eventCount(total: number, exact: boolean): string {
  const n = total.toLocaleString('en-US')
  return exact ? `${n} event${total === 1 ? '' : 's'}` : `${n}+ events`
}

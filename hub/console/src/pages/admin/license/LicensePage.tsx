import { usePageTitle } from '../../../components/usePageTitle.ts'

export function LicensePage() {
  usePageTitle('License')
  return (
    <section className="page">
      <h1>License</h1>
    </section>
  )
}

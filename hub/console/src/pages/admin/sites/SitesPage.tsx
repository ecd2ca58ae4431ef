import { usePageTitle } from '../../../components/usePageTitle.ts'

export function SitesPage() {
  usePageTitle('Sites')
  return (
    <section className="page">
      <h1>Sites</h1>
    </section>
  )
}

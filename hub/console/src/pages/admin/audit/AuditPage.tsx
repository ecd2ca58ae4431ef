import { usePageTitle } from '../../../components/usePageTitle.ts'

export function AuditPage() {
  usePageTitle('Audit')
  return (
    <section className="page">
      <h1>Audit</h1>
    </section>
  )
}

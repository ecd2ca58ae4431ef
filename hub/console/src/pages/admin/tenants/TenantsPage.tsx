import { usePageTitle } from '../../../components/usePageTitle.ts'

export function TenantsPage() {
  usePageTitle('Tenants')
  return (
    <section className="page">
      <h1>Tenants</h1>
    </section>
  )
}

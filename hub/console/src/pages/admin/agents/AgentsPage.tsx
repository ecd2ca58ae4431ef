import { usePageTitle } from '../../../components/usePageTitle.ts'

export function AgentsPage() {
  usePageTitle('Agents')
  return (
    <section className="page">
      <h1>Agents</h1>
    </section>
  )
}

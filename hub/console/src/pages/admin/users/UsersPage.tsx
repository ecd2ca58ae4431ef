import { usePageTitle } from '../../../components/usePageTitle.ts'

export function UsersPage() {
  usePageTitle('Users')
  return (
    <section className="page">
      <h1>Users</h1>
    </section>
  )
}

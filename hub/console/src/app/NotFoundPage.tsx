import { Link } from 'react-router'
import { usePageTitle } from '../components/usePageTitle.ts'

export function NotFoundPage() {
  usePageTitle('Not found')
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>
        There is no page here. Go to <Link to="/live">Live</Link>.
      </p>
    </section>
  )
}

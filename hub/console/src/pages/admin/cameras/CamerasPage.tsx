import { usePageTitle } from '../../../components/usePageTitle.ts'

export function CamerasPage() {
  usePageTitle('Cameras')
  return (
    <section className="page">
      <h1>Cameras</h1>
    </section>
  )
}

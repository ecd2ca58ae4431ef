import type { TestHub } from './test-hub.ts'

/** A site with an enrollment code, made through the hub's API as the system admin. */
export async function enrollmentCode(t: TestHub, siteName = 'Store') {
  const token = await t.adminToken()
  const sites = await t.request('GET', '/api/v1/sites', { token })
  let site = sites.body.items.find((s: { name: string }) => s.name === siteName)
  if (!site) {
    const created = await t.request('POST', '/api/v1/sites', { token, body: { name: siteName } })
    if (created.status !== 201) throw new Error(`site: ${created.text}`)
    site = created.body
  }
  const res = await t.request('POST', `/api/v1/sites/${site.id}/enrollments`, { token })
  if (res.status !== 201) throw new Error(`enrollment: ${res.text}`)
  return { code: res.body.code as string, siteId: site.id as string, token }
}

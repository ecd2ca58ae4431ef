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

/** What `POST /api/v1/enroll` answers an agent: its MQTT identity and its configuration key. */
export interface Enrolled {
  agentId: string
  secret: string
  mqttUrl: string
  caCertificate: string | null
  configKey: string
}

/** Enrolls an agent (named `name`) into a site, with a code made by the holder of `token`. */
export async function enrollAgentAt(t: TestHub, siteId: string, token: string, name = 'agent') {
  const code = await t.request('POST', `/api/v1/sites/${siteId}/enrollments`, { token })
  if (code.status !== 201) throw new Error(`enrollment code: ${code.status} ${code.text}`)
  const res = await t.request('POST', '/api/v1/enroll', { body: { code: code.body.code, name } })
  if (res.status !== 201) throw new Error(`enroll: ${res.status} ${res.text}`)
  return res.body as Enrolled
}

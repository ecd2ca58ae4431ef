import { useEffect, useState } from 'react'
import type { Tenant } from '../../../api/types.ts'
import { fetchAll } from '../../../components/useCatalog.ts'

/**
 * The tenants the user can see: their own, and every tenant for system administrators (who then
 * get a tenant column and a tenant choice). Failing to load them only hides those.
 */
export function useTenants(): Tenant[] {
  const [tenants, setTenants] = useState<Tenant[]>([])
  useEffect(() => {
    const abort = new AbortController()
    fetchAll<Tenant>('/api/v1/tenants', abort.signal).then(
      (items) => setTenants(items.sort((a, b) => a.slug.localeCompare(b.slug))),
      () => {},
    )
    return () => abort.abort()
  }, [])
  return tenants
}

export function tenantSlug(tenants: Tenant[], id: string): string {
  return tenants.find((t) => t.id === id)?.slug ?? 'another tenant'
}

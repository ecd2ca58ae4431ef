import { useSearchParams } from 'react-router'
import type { Site } from '../../../api/types.ts'
import { SelectField } from './SelectField.tsx'
import { tenantSlug, useTenants } from './tenants.ts'

/** The site a page is filtered to: the `site` query parameter ('' for all sites). */
export function useSiteFilter(): string {
  const [params] = useSearchParams()
  return params.get('site') ?? ''
}

/**
 * The "Site" filter of an administration page, kept in the URL (`?site=`) so a reload or a link
 * opens the same list. Sites are named with their tenant when the user sees several tenants.
 */
export function SiteFilter({ sites }: { sites: Site[] | undefined }) {
  const [params, setParams] = useSearchParams()
  const tenants = useTenants()
  return (
    <SelectField
      label="Site"
      value={params.get('site') ?? ''}
      onChange={(e) => {
        const next = new URLSearchParams(params)
        if (e.target.value) next.set('site', e.target.value)
        else next.delete('site')
        setParams(next, { replace: true })
      }}
    >
      <option value="">All sites</option>
      {sites?.map((s) => (
        <option key={s.id} value={s.id}>
          {s.name}
          {tenants.length > 1 ? ` (${tenantSlug(tenants, s.tenantId)})` : ''}
        </option>
      ))}
    </SelectField>
  )
}

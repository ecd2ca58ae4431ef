import { Route, Routes } from 'react-router'
import { NotFoundPage } from '../../app/NotFoundPage.tsx'
import { AddCamerasPage } from './add-cameras/AddCamerasPage.tsx'
import { AgentsPage } from './agents/AgentsPage.tsx'
import { AuditPage } from './audit/AuditPage.tsx'
import { CamerasPage } from './cameras/CamerasPage.tsx'
import { EvidencePage } from './evidence/EvidencePage.tsx'
import { LicensePage } from './license/LicensePage.tsx'
import { ModelsPage } from './models/ModelsPage.tsx'
import { NotificationsPage } from './notifications/NotificationsPage.tsx'
import { SitesPage } from './sites/SitesPage.tsx'
import { TenantsPage } from './tenants/TenantsPage.tsx'
import { UsersPage } from './users/UsersPage.tsx'

/**
 * Administration. The navigation shows a page only to those allowed to use it, but a deep link
 * opens for anyone: the page then shows what the API allows (often a readable 403).
 */
export function AdminRoutes() {
  return (
    <Routes>
      <Route path="tenants" element={<TenantsPage />} />
      <Route path="sites" element={<SitesPage />} />
      <Route path="agents" element={<AgentsPage />} />
      <Route path="agents/:agentId/add-cameras" element={<AddCamerasPage />} />
      <Route path="cameras" element={<CamerasPage />} />
      <Route path="models" element={<ModelsPage />} />
      <Route path="evidence" element={<EvidencePage />} />
      <Route path="notifications" element={<NotificationsPage />} />
      <Route path="users/*" element={<UsersPage />} />
      <Route path="audit" element={<AuditPage />} />
      <Route path="license" element={<LicensePage />} />
      <Route path="*" element={<NotFoundPage />} />
    </Routes>
  )
}

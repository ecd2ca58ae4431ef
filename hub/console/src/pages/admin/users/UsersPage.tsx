import '../common/admin.css'
import { Route, Routes } from 'react-router'
import { NotFoundPage } from '../../../app/NotFoundPage.tsx'
import { RolesView } from './RolesView.tsx'
import { UserDetail } from './UserDetail.tsx'
import { UserList } from './UserList.tsx'
import './admin.css'

/**
 * Users and roles: the user list (and creating users) at /admin/users, one user (account,
 * password, role bindings) at /admin/users/{id}, and the roles at /admin/users/roles. Each is its
 * own address, so a reload or a shared link opens the same view.
 */
export function UsersPage() {
  return (
    <Routes>
      <Route index element={<UserList />} />
      <Route path="roles" element={<RolesView />} />
      <Route path=":id" element={<UserDetail />} />
      <Route path="*" element={<NotFoundPage />} />
    </Routes>
  )
}

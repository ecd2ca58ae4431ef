import { NavLink } from 'react-router'

/** The tabs between the users and the roles. */
export function UsersTabs() {
  return (
    <nav aria-label="Users and roles" className="subnav">
      <ul>
        <li>
          <NavLink to="/admin/users" end>
            Users
          </NavLink>
        </li>
        <li>
          <NavLink to="/admin/users/roles">Roles</NavLink>
        </li>
      </ul>
    </nav>
  )
}

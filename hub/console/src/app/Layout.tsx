import { useEffect, useState } from 'react'
import { NavLink, Outlet, useNavigate } from 'react-router'
import { api } from '../api/client.ts'
import { useOpenAlarms } from '../components/useOpenAlarms.ts'
import { can, useMe } from '../session/session.tsx'

type Theme = 'dark' | 'light'
const THEME_KEY = 'ts-vms.theme'

function initialTheme(): Theme {
  try {
    return localStorage.getItem(THEME_KEY) === 'light' ? 'light' : 'dark'
  } catch {
    return 'dark'
  }
}

/**
 * The frame around every page: the main navigation (administration links only for those allowed
 * to use them; the API still decides every request), the user, the theme switch and sign out.
 */
export function Layout() {
  const me = useMe()
  const navigate = useNavigate()
  const handlesAlarms = can(me, 'alarm.handle')
  const openAlarms = useOpenAlarms(handlesAlarms)
  const [theme, setTheme] = useState<Theme>(initialTheme)
  useEffect(() => {
    document.documentElement.dataset.theme = theme
    try {
      localStorage.setItem(THEME_KEY, theme)
    } catch {}
  }, [theme])

  const admin: { to: string; label: string; allowed: boolean }[] = [
    { to: '/admin/tenants', label: 'Tenants', allowed: me.systemAdmin },
    { to: '/admin/sites', label: 'Sites', allowed: can(me, 'site.manage') },
    { to: '/admin/agents', label: 'Agents', allowed: can(me, 'agent.manage') },
    { to: '/admin/cameras', label: 'Cameras', allowed: can(me, 'camera.manage') },
    { to: '/admin/models', label: 'Models', allowed: can(me, 'camera.manage') },
    { to: '/admin/users', label: 'Users', allowed: can(me, 'user.manage') },
    { to: '/admin/notifications', label: 'Notifications', allowed: can(me, 'alarm.manage') },
    { to: '/admin/evidence', label: 'Evidence', allowed: can(me, 'evidence.manage') },
    { to: '/admin/audit', label: 'Audit', allowed: can(me, 'audit.read') },
    { to: '/admin/license', label: 'License', allowed: can(me, 'license.manage') },
  ]
  const signOut = async () => {
    await api.signOut()
    navigate('/sign-in', { replace: true })
  }
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand" aria-hidden="true">
          TS-VMS
        </span>
        <nav aria-label="Main">
          <ul>
            <li>
              <NavLink to="/live">Live</NavLink>
            </li>
            <li>
              <NavLink to="/playback">Playback</NavLink>
            </li>
            <li>
              <NavLink to="/events">Events</NavLink>
            </li>
            <li>
              <NavLink to="/health">Health</NavLink>
            </li>
            {handlesAlarms && (
              <li>
                <NavLink to="/alarms">
                  Alarms{' '}
                  {openAlarms ? (
                    <span
                      className="badge nav-alarm-badge"
                      role="img"
                      aria-label={`${openAlarms} open alarm${openAlarms === 1 ? '' : 's'}`}
                    >
                      {openAlarms}
                    </span>
                  ) : null}
                </NavLink>
              </li>
            )}
            {can(me, 'evidence.manage') && (
              <li>
                <NavLink to="/cases">Cases</NavLink>
              </li>
            )}
            {admin
              .filter((a) => a.allowed)
              .map((a) => (
                <li key={a.to}>
                  <NavLink to={a.to}>{a.label}</NavLink>
                </li>
              ))}
          </ul>
        </nav>
        <div className="account">
          <span title={`tenant ${me.tenantSlug}`}>
            {me.displayName ?? me.username}
            <span className="muted"> @ {me.tenantSlug}</span>
          </span>
          <button
            type="button"
            className="ghost"
            aria-label={theme === 'dark' ? 'Use the light theme' : 'Use the dark theme'}
            onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
          >
            {theme === 'dark' ? 'Light' : 'Dark'}
          </button>
          <button type="button" className="ghost" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  )
}

import { Navigate, Route, Routes, useLocation } from 'react-router'
import { AdminRoutes } from '../pages/admin/AdminRoutes.tsx'
import { AlarmRulesPage } from '../pages/alarms/AlarmRulesPage.tsx'
import { AlarmsPage } from '../pages/alarms/AlarmsPage.tsx'
import { CaseDetailPage } from '../pages/cases/CaseDetailPage.tsx'
import { CasesPage } from '../pages/cases/CasesPage.tsx'
import { EventsPage } from '../pages/events/EventsPage.tsx'
import { HealthPage } from '../pages/health/HealthPage.tsx'
import { LivePage } from '../pages/live/LivePage.tsx'
import { PlaybackPage } from '../pages/playback/PlaybackPage.tsx'
import { SignInPage } from '../pages/sign-in/SignInPage.tsx'
import { MeProvider, useSessionState } from '../session/session.tsx'
import { Layout } from './Layout.tsx'
import { NotFoundPage } from './NotFoundPage.tsx'

/**
 * The console's routes. Every page but sign-in needs a session; without one (never signed in, or
 * the session ended) the user goes to sign-in with `next` set to where they were, and comes back
 * there after signing in.
 */
export function App() {
  return (
    <Routes>
      <Route path="/sign-in" element={<SignInPage />} />
      <Route element={<RequireSession />}>
        <Route index element={<Navigate to="/live" replace />} />
        <Route path="/live" element={<LivePage />} />
        <Route path="/playback" element={<PlaybackPage />} />
        <Route path="/playback/:cameraId" element={<PlaybackPage />} />
        <Route path="/events" element={<EventsPage />} />
        <Route path="/health" element={<HealthPage />} />
        <Route path="/alarms" element={<AlarmsPage />} />
        <Route path="/alarms/rules" element={<AlarmRulesPage />} />
        <Route path="/cases" element={<CasesPage />} />
        <Route path="/cases/:caseId" element={<CaseDetailPage />} />
        <Route path="/admin/*" element={<AdminRoutes />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  )
}

function RequireSession() {
  const state = useSessionState()
  const location = useLocation()
  if (state !== 'signed-in') {
    const next = `${location.pathname}${location.search}`
    const query = new URLSearchParams({ next })
    if (state === 'expired') query.set('expired', '1')
    return <Navigate to={`/sign-in?${query.toString()}`} replace />
  }
  return (
    <MeProvider>
      <Layout />
    </MeProvider>
  )
}

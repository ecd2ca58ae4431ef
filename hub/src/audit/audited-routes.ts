/**
 * Audit completeness (issue 16): every route of the API registry (`buildApi`, hub/src/http/app.ts)
 * is classified here, by `METHOD path` as registered. Either it writes an audit record on success
 * (`audited`: the action it writes) or it does not (`unaudited`: why that is right). Privileged
 * routes are audited: every route that changes something (other than auth plumbing audited
 * elsewhere), and the reads that show or move video: live view start and stop, playback, exports,
 * snapshots, case downloads, the audit export.
 *
 * hub/test/api/audit-completeness.test.ts walks the registry: a route missing here fails it, an entry
 * naming no route fails it, and every `audited` route is called and must write its record.
 */
export type RouteAudit =
  | {
      /** The audit action the route writes on success. */
      audited: string
      /** How the route audits, where it is not one record per call. */
      note?: string
    }
  | {
      /** Why the route writes no audit record. */
      unaudited: string
    }

export const routeKey = (r: { method: string; path: string }): string => `${r.method.toUpperCase()} ${r.path}`

const read = (what: string): RouteAudit => ({ unaudited: `read-only: ${what}` })

export const ROUTE_AUDIT: Readonly<Record<string, RouteAudit>> = {
  // Authentication (audited by the auth service, hub/src/auth/auth-service.ts)
  'POST /api/v1/auth/login': { audited: 'auth.login.success', note: 'failures: auth.login.failure, lockout' },
  'POST /api/v1/auth/refresh': {
    unaudited:
      'token rotation of a signed-in session; a replayed refresh token is audited (auth.refresh.reuse)',
  },
  'POST /api/v1/auth/logout': { audited: 'auth.logout' },
  'POST /api/v1/auth/password-reset': {
    audited: 'auth.password_reset.request',
    note: 'only for an existing account with an e-mail (the answer is the same either way)',
  },
  'POST /api/v1/auth/password-reset/confirm': { audited: 'auth.password_reset.confirm' },
  'GET /api/v1/me': read('the caller and their grants'),

  // Tenants, sites, agents
  'GET /api/v1/tenants': read('tenants'),
  'POST /api/v1/tenants': { audited: 'tenant.create' },
  'GET /api/v1/tenants/:id': read('a tenant'),
  'PATCH /api/v1/tenants/:id': { audited: 'tenant.update' },
  'DELETE /api/v1/tenants/:id': { audited: 'tenant.delete' },
  'GET /api/v1/sites': read('sites'),
  'POST /api/v1/sites': { audited: 'site.create' },
  'GET /api/v1/sites/:id': read('a site'),
  'PATCH /api/v1/sites/:id': { audited: 'site.update' },
  'DELETE /api/v1/sites/:id': { audited: 'site.delete' },
  'POST /api/v1/sites/:id/enrollments': { audited: 'agent.enrollment.create' },
  'POST /api/v1/enroll': { audited: 'agent.enroll' },
  'GET /api/v1/agents': read('agents'),
  'GET /api/v1/agents/:id': read('an agent'),
  'PATCH /api/v1/agents/:id': { audited: 'agent.update' },
  'DELETE /api/v1/agents/:id': { audited: 'agent.revoke' },
  'GET /api/v1/agents/:id/config': read("an agent's desired configuration"),
  'GET /api/v1/agents/:id/health-history': read("an agent's downsampled health history"),
  'PUT /api/v1/agents/:id/config': { audited: 'agent.config.update' },
  'GET /api/v1/agent/models/:id': {
    unaudited:
      "an agent downloading a model its configuration names (agent plumbing; the model's upload is audited)",
  },
  'PUT /api/v1/agent/uploads/:id': {
    unaudited:
      'an agent delivering an export or playback segment the hub asked for (agent plumbing; the request that asked is audited)',
  },

  // Cameras and devices
  'GET /api/v1/cameras': read('cameras'),
  'POST /api/v1/cameras': { audited: 'camera.create' },
  'GET /api/v1/cameras/:id': read('a camera'),
  'PATCH /api/v1/cameras/:id': { audited: 'camera.update' },
  'DELETE /api/v1/cameras/:id': { audited: 'camera.delete' },
  'POST /api/v1/cameras/:id/test-stream': { audited: 'camera.test_stream' },
  'POST /api/v1/cameras/bulk': { audited: 'camera.bulk_import' },
  'POST /api/v1/agents/:id/discover': { audited: 'device.discover' },
  'POST /api/v1/agents/:id/probe': { audited: 'device.probe' },
  'POST /api/v1/agents/:id/probe/snapshot': { audited: 'device.snapshot' },
  'GET /api/v1/cameras/:id/snapshot.jpg': {
    audited: 'camera.snapshot',
    note: "one record per user and camera within 10 s (a page's refreshes)",
  },
  'POST /api/v1/cameras/:id/ptz': {
    audited: 'camera.ptz',
    note: 'moves by one user on one camera closer than VMS_PTZ_AUDIT_SEQUENCE_MS make one record',
  },
  'GET /api/v1/cameras/:id/ptz/presets': read("the names of a PTZ camera's presets"),
  'GET /api/v1/cameras/:id/activity': read('counts of detections over time'),
  'GET /api/v1/cameras/:id/objects': read('the objects an agent is tracking now (metadata, no video)'),

  // Live view
  'POST /api/v1/cameras/:id/live': { audited: 'camera.live.start' },
  'POST /api/v1/live/offers': { audited: 'camera.live.start', note: 'one record per session started' },
  'POST /api/v1/live/grid': { audited: 'camera.live.start', note: 'one record per tile started' },
  'POST /api/v1/cameras/:id/whep': { audited: 'camera.live.start' },
  'DELETE /api/v1/live/:sessionId': {
    audited: 'camera.live.stop',
    note: 'also written when a session ends otherwise (expiry, failure, revocation)',
  },
  'POST /api/v1/live/:sessionId/renew': { audited: 'camera.live.renew' },
  'POST /api/v1/live/:sessionId/terminate': { audited: 'camera.live.terminate' },
  'GET /api/v1/live/config': read('ICE servers'),
  'GET /api/v1/live/:sessionId': read("the caller's own session statistics"),
  'GET /api/v1/live': read('live sessions'),

  // Recordings, playback and exports
  'GET /api/v1/cameras/:id/recordings': { audited: 'camera.playback', note: 'details.op: recordings.list' },
  'GET /api/v1/cameras/:id/playback.m3u8': {
    audited: 'camera.playback',
    note: 'once per playback session (details.op: playback.hls), not per playlist reload',
  },
  'GET /api/v1/cameras/:id/playback/segments/:name': {
    unaudited: 'a segment of a playback session, audited once at its playlist (camera.playback)',
  },
  'GET /api/v1/cameras/:id/playback/init/:name': {
    unaudited: 'an init section of a playback session, audited once at its playlist (camera.playback)',
  },
  'GET /api/v1/cameras/:id/export.mp4': { audited: 'camera.export' },
  'GET /api/v1/exports/:id': read("an export's manifest (the export itself is audited)"),
  'GET /api/v1/exports/:id/manifest.json': read("an export's signed manifest (the export itself is audited)"),
  'GET /api/v1/events': read('events'),
  'GET /api/v1/events/:id': read('an event'),
  'GET /api/v1/events/:id/snapshot.jpg': {
    audited: 'camera.snapshot.view',
    note: "one record per user and event within 10 s (a page's refreshes)",
  },
  'GET /api/v1/events/:id/clip.mp4': {
    audited: 'camera.export',
    note: 'an export of the event (details.eventId)',
  },
  'GET /api/v1/bookmarks': read('bookmarks'),
  'POST /api/v1/bookmarks': { audited: 'bookmark.create' },
  'GET /api/v1/bookmarks/:id': read('a bookmark'),
  'DELETE /api/v1/bookmarks/:id': { audited: 'bookmark.delete' },

  // Evidence
  'GET /api/v1/evidence-locks': read('evidence locks'),
  'POST /api/v1/evidence-locks': { audited: 'evidence-lock.create' },
  'GET /api/v1/evidence-locks/:id': read('an evidence lock'),
  'DELETE /api/v1/evidence-locks/:id': { audited: 'evidence-lock.delete' },
  'GET /api/v1/cases': read('cases'),
  'POST /api/v1/cases': { audited: 'case.create' },
  'GET /api/v1/cases/:id': read('a case'),
  'PATCH /api/v1/cases/:id': { audited: 'case.update' },
  'POST /api/v1/cases/:id/notes': { audited: 'case.note' },
  'POST /api/v1/cases/:id/clips/:clipId/retry': { audited: 'case.update', note: 'details.retry' },
  'DELETE /api/v1/cases/:id': { audited: 'case.delete' },
  'GET /api/v1/cases/:id/download.zip': { audited: 'case.download' },

  // Alarms and notifications
  'GET /api/v1/alarm-rules': read('alarm rules'),
  'POST /api/v1/alarm-rules': { audited: 'alarm-rule.create' },
  'GET /api/v1/alarm-rules/:id': read('an alarm rule'),
  'PATCH /api/v1/alarm-rules/:id': { audited: 'alarm-rule.update' },
  'DELETE /api/v1/alarm-rules/:id': { audited: 'alarm-rule.delete' },
  'GET /api/v1/alarms': read('alarms'),
  'GET /api/v1/alarms/:id': read('an alarm'),
  'POST /api/v1/alarms/:id/acknowledge': { audited: 'alarm.acknowledge' },
  'POST /api/v1/alarms/:id/close': { audited: 'alarm.close' },
  'GET /api/v1/notification-channels': read('notification channels'),
  'POST /api/v1/notification-channels': { audited: 'notification-channel.create' },
  'GET /api/v1/notification-channels/:id': read('a notification channel'),
  'PATCH /api/v1/notification-channels/:id': { audited: 'notification-channel.update' },
  'DELETE /api/v1/notification-channels/:id': { audited: 'notification-channel.delete' },
  'POST /api/v1/notification-channels/:id/test': { audited: 'notification-channel.test' },
  'GET /api/v1/notification-deliveries': read('notification deliveries'),
  'POST /api/v1/notification-deliveries/:id/retry': { audited: 'notification-delivery.retry' },

  // Users, roles, views
  'GET /api/v1/users': read('users'),
  'POST /api/v1/users': { audited: 'user.create' },
  'GET /api/v1/users/:id': read('a user'),
  'PATCH /api/v1/users/:id': { audited: 'user.update' },
  'DELETE /api/v1/users/:id': { audited: 'user.delete' },
  'GET /api/v1/users/:id/role-bindings': read("a user's role bindings"),
  'POST /api/v1/users/:id/role-bindings': { audited: 'role_binding.create' },
  'DELETE /api/v1/users/:id/role-bindings/:bindingId': { audited: 'role_binding.delete' },
  'GET /api/v1/roles': read('roles'),
  'POST /api/v1/roles': { audited: 'role.create' },
  'GET /api/v1/roles/:id': read('a role'),
  'PATCH /api/v1/roles/:id': { audited: 'role.update' },
  'DELETE /api/v1/roles/:id': { audited: 'role.delete' },
  'GET /api/v1/views': read("the caller's saved live views"),
  'POST /api/v1/views': { audited: 'view.create' },
  'PATCH /api/v1/views/:id': { audited: 'view.update' },
  'DELETE /api/v1/views/:id': { audited: 'view.delete' },

  // Models, license, audit, system
  'GET /api/v1/models': read('analytics models'),
  'POST /api/v1/models': { audited: 'model.create' },
  'GET /api/v1/models/:id': read('an analytics model'),
  'DELETE /api/v1/models/:id': { audited: 'model.delete' },
  'GET /api/v1/license': read('the license'),
  'PUT /api/v1/license': { audited: 'license.install' },
  'GET /api/v1/audit': {
    audited: 'audit.export',
    note: 'the CSV export (Accept: text/csv) is audited; reading pages of JSON is not',
  },
  'GET /api/v1/audit/verify': read('verifies the audit chains'),
  'GET /api/v1/audit/quarantine': read('audit records the database refused'),
  'GET /api/v1/stream': read('live updates of what the caller may see (server-sent events)'),
  'POST /api/v1/diagnostics/uplink': {
    unaudited: 'measures the upload bandwidth: the body is counted and dropped, nothing is stored or changed',
  },
}

import type { MigrationObject } from '@mikro-orm/core'
import { Migration20261124000000_identity } from './Migration20261124000000_identity.ts'
import { Migration20261124010000_audit } from './Migration20261124010000_audit.ts'
import { Migration20261124020000_licensing } from './Migration20261124020000_licensing.ts'
import { Migration20261124030000_agents } from './Migration20261124030000_agents.ts'
import { Migration20261124040000_cameras } from './Migration20261124040000_cameras.ts'
import { Migration20261128000000_views } from './Migration20261128000000_views.ts'
import { Migration20261129000000_site_time_zone } from './Migration20261129000000_site_time_zone.ts'
import { Migration20261130000000_analytics } from './Migration20261130000000_analytics.ts'
import { Migration20261130010000_models } from './Migration20261130010000_models.ts'
import { Migration20261201000000_camera_device } from './Migration20261201000000_camera_device.ts'
import { Migration20261202000000_export_keys } from './Migration20261202000000_export_keys.ts'
import { Migration20261202010000_bookmarks } from './Migration20261202010000_bookmarks.ts'
import { Migration20261203000000_alarms } from './Migration20261203000000_alarms.ts'
import { Migration20261203010000_evidence_locks } from './Migration20261203010000_evidence_locks.ts'
import { Migration20261203020000_cases } from './Migration20261203020000_cases.ts'
import { Migration20261204000000_event_indexes } from './Migration20261204000000_event_indexes.ts'
import { Migration20261204050000_agent_health_history } from './Migration20261204050000_agent_health_history.ts'
import { Migration20261204090000_principal_changes } from './Migration20261204090000_principal_changes.ts'

/**
 * The hub's schema history, in order. Listed explicitly (not discovered from the file system) so
 * that the same list runs under tsx, Vitest and a bundled build.
 */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261124000000_identity', class: Migration20261124000000_identity },
  { name: 'Migration20261124010000_audit', class: Migration20261124010000_audit },
  { name: 'Migration20261124020000_licensing', class: Migration20261124020000_licensing },
  { name: 'Migration20261124030000_agents', class: Migration20261124030000_agents },
  { name: 'Migration20261124040000_cameras', class: Migration20261124040000_cameras },
  { name: 'Migration20261128000000_views', class: Migration20261128000000_views },
  { name: 'Migration20261129000000_site_time_zone', class: Migration20261129000000_site_time_zone },
  { name: 'Migration20261130000000_analytics', class: Migration20261130000000_analytics },
  { name: 'Migration20261130010000_models', class: Migration20261130010000_models },
  { name: 'Migration20261201000000_camera_device', class: Migration20261201000000_camera_device },
  { name: 'Migration20261202000000_export_keys', class: Migration20261202000000_export_keys },
  { name: 'Migration20261202010000_bookmarks', class: Migration20261202010000_bookmarks },
  { name: 'Migration20261203000000_alarms', class: Migration20261203000000_alarms },
  { name: 'Migration20261203010000_evidence_locks', class: Migration20261203010000_evidence_locks },
  { name: 'Migration20261203020000_cases', class: Migration20261203020000_cases },
  { name: 'Migration20261204000000_event_indexes', class: Migration20261204000000_event_indexes },
  {
    name: 'Migration20261204050000_agent_health_history',
    class: Migration20261204050000_agent_health_history,
  },
  { name: 'Migration20261204090000_principal_changes', class: Migration20261204090000_principal_changes },
]

import { Migration } from '@mikro-orm/migrations'

/**
 * Indexes for the events list at scale (issue 17: tens of millions of rows). The list is ordered
 * `time desc, id desc` and pages by keyset (`(time, id) < cursor`), so each index the list uses
 * ends in `time DESC, id DESC` after what a query names; then a page reads only its own rows, at
 * any depth:
 * - a system admin's list across tenants: (time, id);
 * - a site filter, and a site-scoped user's list: (site_id, time, id);
 * - a type filter (with or without a time range): (tenant_id, type, time, id);
 * - a camera filter and an agent's events: the existing (camera_id, time) and (agent_id, time)
 *   gain `id`, so equal times no longer need a sort.
 * A tenant's whole list already has (tenant_id, time, id) (events_tenant_time_idx).
 * `total` counts up to 10,001 matching rows on every page; the indexes INCLUDE what row-level
 * security and the site-scoped filters read (tenant_id, and site_id for camera grants), so that
 * count is an index-only scan rather than 10,001 visits to the table.
 *
 * Built without CONCURRENTLY (migrations run in one transaction, before the hub serves): on a hub
 * that already holds tens of millions of events the upgrade's start takes minutes longer; agents
 * keep their outboxes meanwhile and deliver when it is up.
 */
export class Migration20261204000000_event_indexes extends Migration {
  override async up(): Promise<void> {
    this.addSql('CREATE INDEX events_time_idx ON events (time DESC, id DESC) INCLUDE (tenant_id)')
    this.addSql(
      'CREATE INDEX events_site_time_idx ON events (site_id, time DESC, id DESC) INCLUDE (tenant_id) WHERE site_id IS NOT NULL',
    )
    this.addSql('CREATE INDEX events_tenant_type_time_idx ON events (tenant_id, type, time DESC, id DESC)')
    this.addSql(
      'CREATE INDEX events_camera_time_id_idx ON events (camera_id, time DESC, id DESC) INCLUDE (tenant_id, site_id) WHERE camera_id IS NOT NULL',
    )
    this.addSql('DROP INDEX events_camera_time_idx')
    this.addSql(
      'CREATE INDEX events_agent_time_id_idx ON events (agent_id, time DESC, id DESC) INCLUDE (tenant_id)',
    )
    this.addSql('DROP INDEX events_agent_time_idx')
  }

  override async down(): Promise<void> {
    this.addSql('CREATE INDEX events_agent_time_idx ON events (agent_id, time DESC)')
    this.addSql('DROP INDEX IF EXISTS events_agent_time_id_idx')
    this.addSql(
      'CREATE INDEX events_camera_time_idx ON events (camera_id, time DESC) WHERE camera_id IS NOT NULL',
    )
    this.addSql('DROP INDEX IF EXISTS events_camera_time_id_idx')
    this.addSql('DROP INDEX IF EXISTS events_tenant_type_time_idx')
    this.addSql('DROP INDEX IF EXISTS events_site_time_idx')
    this.addSql('DROP INDEX IF EXISTS events_time_idx')
  }
}

import { Migration } from '@mikro-orm/migrations'

/**
 * Edge analytics (issue 13).
 * - cameras.analytics: the camera's `analytics` configuration as validated (defaults applied);
 *   null until someone sets it (the API shows the defaults, analytics off).
 * - events.object_id: an `object` event is one row per tracked object, updated in place as the
 *   agent's updates arrive; the agent's event id is unique per agent, so a replayed `new` finds
 *   its row. The partial indexes serve the events page's label filter and "active" view.
 * - camera_activity: seconds of motion per 10 s bucket per camera, for the playback timeline
 *   (the agent sends each bucket once it is over; the hub adds).
 * - event_snapshots: the hub's cache of snapshots fetched from agents (an agent may be offline
 *   when someone looks again), per event and variant; gone with the event.
 */
export class Migration20261130000000_analytics extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE cameras ADD COLUMN analytics jsonb NULL')
    this.addSql('ALTER TABLE events ADD COLUMN object_id uuid NULL')
    this.addSql(
      'CREATE UNIQUE INDEX events_agent_object_idx ON events (agent_id, object_id) WHERE object_id IS NOT NULL',
    )
    this.addSql(
      "CREATE INDEX events_object_label_idx ON events (tenant_id, (data->>'label'), time DESC, id DESC) WHERE type = 'object'",
    )
    this.addSql(
      "CREATE INDEX events_object_active_idx ON events (tenant_id, time DESC, id DESC) WHERE type = 'object' AND data->>'endTime' IS NULL",
    )
    this.addSql(
      'CREATE INDEX events_camera_time_idx ON events (camera_id, time DESC) WHERE camera_id IS NOT NULL',
    )

    this.addSql(`CREATE TABLE camera_activity (
      tenant_id uuid NOT NULL,
      camera_id uuid NOT NULL,
      bucket_start timestamptz NOT NULL,
      motion_seconds real NOT NULL CHECK (motion_seconds >= 0),
      PRIMARY KEY (camera_id, bucket_start)
    )`)
    this.addSql(`CREATE TABLE event_snapshots (
      event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
      variant text NOT NULL CHECK (variant IN ('full', 'box', 'crop')),
      tenant_id uuid NOT NULL,
      jpeg bytea NOT NULL,
      width integer NOT NULL,
      height integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (event_id, variant)
    )`)
    for (const table of ['camera_activity', 'event_snapshots']) {
      this.addSql(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`)
      this.addSql(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`)
      this.addSql(`CREATE POLICY tenant_isolation ON ${table} FOR ALL TO vms_app
        USING (tenant_id = vms_current_tenant() OR vms_cross_tenant())
        WITH CHECK (tenant_id = vms_current_tenant() OR vms_cross_tenant())`)
      this.addSql(`CREATE POLICY system_all ON ${table} FOR ALL TO vms_system USING (true) WITH CHECK (true)`)
      this.addSql(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO vms_app, vms_system`)
    }
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS event_snapshots')
    this.addSql('DROP TABLE IF EXISTS camera_activity')
    this.addSql('DROP INDEX IF EXISTS events_camera_time_idx')
    this.addSql('DROP INDEX IF EXISTS events_object_active_idx')
    this.addSql('DROP INDEX IF EXISTS events_object_label_idx')
    this.addSql('DROP INDEX IF EXISTS events_agent_object_idx')
    this.addSql('ALTER TABLE events DROP COLUMN IF EXISTS object_id')
    this.addSql('ALTER TABLE cameras DROP COLUMN IF EXISTS analytics')
  }
}

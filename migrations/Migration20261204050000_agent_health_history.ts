import { Migration } from '@mikro-orm/migrations'
import { tenantTableSql } from './tenant-table.ts'

/**
 * Fleet health storage (issue 17): the latest heartbeat stays one row per agent
 * (`agents.last_health`, overwritten), and its history is kept downsampled, not a row per camera
 * per heartbeat.
 *
 * - `agent_health_history`: one row per agent per 5-minute bucket, upserted by every heartbeat of
 *   the bucket (agent-level extremes over the bucket, the number of cameras streaming at its worst
 *   and at its last sample, and the last sample's compact per-camera figures). Purged after
 *   `VMS_HEALTH_HISTORY_DAYS` by the hub (hub/src/agents/health-history.ts).
 * - `agents.alarm_health`: the part of the last heartbeat the alarm engine reads (stream states,
 *   disk, outbox, recording, retention), written with `last_health`, so an alarm pass over a large
 *   fleet does not read every camera's whole report (bitrates, analytics, live, device).
 */
export class Migration20261204050000_agent_health_history extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE agents ADD COLUMN alarm_health jsonb')
    this.addSql(`CREATE TABLE agent_health_history (
      tenant_id uuid NOT NULL,
      agent_id uuid NOT NULL,
      bucket_start timestamptz NOT NULL,
      samples integer NOT NULL DEFAULT 1 CHECK (samples > 0),
      first_at timestamptz NOT NULL,
      last_at timestamptz NOT NULL,
      cameras integer NOT NULL CHECK (cameras >= 0),
      streaming_min integer NOT NULL CHECK (streaming_min >= 0),
      streaming_last integer NOT NULL CHECK (streaming_last >= 0),
      unreachable_max integer NOT NULL CHECK (unreachable_max >= 0),
      outbox_depth_max bigint NULL,
      outbox_age_max_seconds double precision NULL,
      disk_free_min bigint NULL,
      disk_total bigint NULL,
      recording_bytes bigint NULL,
      camera_figures jsonb NOT NULL DEFAULT '[]'::jsonb,
      PRIMARY KEY (agent_id, bucket_start),
      FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
    )`)
    this.addSql('CREATE INDEX agent_health_history_bucket_idx ON agent_health_history (bucket_start)')
    for (const sql of tenantTableSql('agent_health_history')) this.addSql(sql)
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS agent_health_history')
    this.addSql('ALTER TABLE agents DROP COLUMN IF EXISTS alarm_health')
  }
}

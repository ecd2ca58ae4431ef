import { Migration } from '@mikro-orm/migrations'
import { tenantTableSql } from './tenant-table.ts'

/**
 * Evidence locks (issue 16): a time range of some cameras' recordings that the sites must keep
 * until `until`, whatever their quota. `evidence_lock_agents` holds, per agent that records one of
 * the lock's cameras (at creation), the agent's configuration version that first carried the lock
 * and which of the cameras it holds: the lock is applied on that agent once the agent reports that
 * version (agents.applied_config_version). Rows are kept per agent (not derived from the cameras
 * now) because recordings stay on the agent that made them when a camera moves.
 */
export class Migration20261203010000_evidence_locks extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE evidence_locks (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      camera_ids uuid[] NOT NULL CHECK (cardinality(camera_ids) BETWEEN 1 AND 64),
      "from" timestamptz NOT NULL,
      "to" timestamptz NOT NULL,
      until timestamptz NOT NULL,
      reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
      created_by uuid NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CHECK ("to" > "from" AND until >= "to"),
      UNIQUE (tenant_id, id)
    )`)
    this.addSql('CREATE INDEX evidence_locks_tenant_idx ON evidence_locks (tenant_id, created_at DESC, id)')
    this.addSql('CREATE INDEX evidence_locks_cameras_idx ON evidence_locks USING gin (camera_ids)')
    this.addSql(`CREATE TABLE evidence_lock_agents (
      lock_id uuid NOT NULL,
      tenant_id uuid NOT NULL,
      agent_id uuid NOT NULL,
      camera_ids uuid[] NOT NULL,
      config_version integer NOT NULL,
      PRIMARY KEY (lock_id, agent_id),
      FOREIGN KEY (tenant_id, lock_id) REFERENCES evidence_locks (tenant_id, id) ON DELETE CASCADE,
      FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
    )`)
    this.addSql('CREATE INDEX evidence_lock_agents_agent_idx ON evidence_lock_agents (agent_id)')
    for (const table of ['evidence_locks', 'evidence_lock_agents'])
      for (const sql of tenantTableSql(table)) this.addSql(sql)
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS evidence_lock_agents')
    this.addSql('DROP TABLE IF EXISTS evidence_locks')
  }
}

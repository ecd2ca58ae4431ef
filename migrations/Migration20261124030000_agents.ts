import { Migration } from '@mikro-orm/migrations'

/**
 * Edge agents and what they send.
 *
 * - agents: one row per enrolled agent, in a site. `acked_seq` is the highest outbox sequence of
 *   the agent the hub has committed; it advances in the same transaction as the messages' effects,
 *   which is what makes delivery exactly-once.
 * - agent_enrollments: one-time codes (stored hashed) that an installer exchanges for credentials.
 * - events: what agents report (and the hub's own agent.online/agent.offline), unique per
 *   (agent, outbox sequence) so a redelivered message can never be stored twice.
 */
export class Migration20261124030000_agents extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE agents (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      site_id uuid NOT NULL,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      hostname text,
      version text,
      secret_hash text NOT NULL,
      disabled boolean NOT NULL DEFAULT false,
      revoked_at timestamptz,
      status text NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'offline')),
      last_seen_at timestamptz,
      acked_seq bigint NOT NULL DEFAULT 0,
      last_health jsonb,
      reported_state jsonb,
      desired_config jsonb NOT NULL DEFAULT '{"heartbeatSeconds":10,"cameras":[]}'::jsonb,
      config_version integer NOT NULL DEFAULT 1,
      applied_config_version integer,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tenant_id, id),
      FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id) ON DELETE RESTRICT
    )`)
    this.addSql('CREATE INDEX agents_tenant_idx ON agents (tenant_id, site_id)')
    this.addSql(`CREATE INDEX agents_online_idx ON agents (last_seen_at) WHERE status = 'online'`)

    this.addSql(`CREATE TABLE agent_enrollments (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      site_id uuid NOT NULL,
      code_hash text NOT NULL UNIQUE,
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      agent_id uuid,
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id) ON DELETE CASCADE
    )`)

    this.addSql(`CREATE TABLE events (
      id bigserial PRIMARY KEY,
      tenant_id uuid NOT NULL,
      agent_id uuid,
      site_id uuid,
      camera_id uuid,
      seq bigint,
      type text NOT NULL,
      time timestamptz NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      data jsonb NOT NULL DEFAULT '{}'::jsonb,
      UNIQUE (agent_id, seq)
    )`)
    this.addSql('CREATE INDEX events_tenant_time_idx ON events (tenant_id, time DESC, id DESC)')
    this.addSql('CREATE INDEX events_agent_time_idx ON events (agent_id, time DESC)')

    for (const table of ['agents', 'agent_enrollments', 'events']) {
      this.addSql(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`)
      this.addSql(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`)
      this.addSql(`CREATE POLICY tenant_isolation ON ${table} FOR ALL TO vms_app
        USING (tenant_id = vms_current_tenant() OR vms_cross_tenant())
        WITH CHECK (tenant_id = vms_current_tenant() OR vms_cross_tenant())`)
      this.addSql(`CREATE POLICY system_all ON ${table} FOR ALL TO vms_system USING (true) WITH CHECK (true)`)
      this.addSql(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO vms_app, vms_system`)
    }
    this.addSql('GRANT USAGE ON SEQUENCE events_id_seq TO vms_app, vms_system')
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS events')
    this.addSql('DROP TABLE IF EXISTS agent_enrollments')
    this.addSql('DROP TABLE IF EXISTS agents')
  }
}

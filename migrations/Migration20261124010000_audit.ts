import { Migration } from '@mikro-orm/migrations'

/**
 * The tamper-evident audit trail.
 *
 * audit_events is partitioned by month on `time`, so retention drops whole partitions instead of
 * deleting rows. It is append-only for everyone: the hub's roles get INSERT and SELECT only, and
 * triggers reject UPDATE, DELETE and TRUNCATE whoever asks, the owner included. (A superuser can
 * still disable triggers; that is what the hash chain and the signed checkpoints are for.)
 *
 * Each tenant's records form one hash chain (seq 1, 2, ...). audit_chain_heads holds each chain's
 * last seq and hash; writers lock the head row, so concurrent writers never fork a chain.
 * audit_checkpoints holds signed statements of a chain's head, taken periodically and when
 * retention prunes, so truncation of the chain shows.
 *
 * Audit outlives what it speaks of: there is no foreign key to tenants, users or anything else.
 */
export class Migration20261124010000_audit extends Migration {
  override async up(): Promise<void> {
    this.addSql('CREATE SEQUENCE audit_events_id_seq AS bigint')
    this.addSql(`CREATE TABLE audit_events (
      id bigint NOT NULL DEFAULT nextval('audit_events_id_seq'),
      event_id uuid NOT NULL,
      time timestamptz NOT NULL,
      tenant_id uuid NOT NULL,
      seq bigint NOT NULL CHECK (seq > 0),
      actor_type text NOT NULL CHECK (actor_type IN ('user', 'agent', 'system')),
      actor_id text,
      actor_name text,
      action text NOT NULL,
      target_type text,
      target_id text,
      outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
      reason text,
      client_ip text,
      user_agent text,
      details jsonb NOT NULL DEFAULT '{}'::jsonb,
      prev_hash text NOT NULL,
      hash text NOT NULL,
      PRIMARY KEY (id, time),
      UNIQUE (event_id, time)
    ) PARTITION BY RANGE (time)`)
    this.addSql('ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id')
    this.addSql('CREATE INDEX audit_events_chain_idx ON audit_events (tenant_id, seq)')
    this.addSql('CREATE INDEX audit_events_tenant_time_idx ON audit_events (tenant_id, time)')
    this.addSql('CREATE INDEX audit_events_action_idx ON audit_events (tenant_id, action)')

    this.addSql(`CREATE FUNCTION vms_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit records are append-only (% on %)', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'raise_exception';
      END $$`)
    this.addSql(`CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION vms_audit_append_only()`)
    // Statement-level too: they fire even when no row matches, so the refusal is unconditional.
    this.addSql(`CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION vms_audit_append_only()`)

    this.addSql(`CREATE TABLE audit_chain_heads (
      tenant_id uuid PRIMARY KEY,
      seq bigint NOT NULL,
      hash text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`)

    this.addSql(`CREATE TABLE audit_checkpoints (
      id bigserial PRIMARY KEY,
      tenant_id uuid NOT NULL,
      seq bigint NOT NULL,
      hash text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('periodic', 'prune')),
      created_at timestamptz NOT NULL DEFAULT now(),
      signature text NOT NULL
    )`)
    this.addSql('CREATE INDEX audit_checkpoints_tenant_idx ON audit_checkpoints (tenant_id, seq)')
    this.addSql(`CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
      FOR EACH ROW EXECUTE FUNCTION vms_audit_append_only()`)
    this.addSql(`CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
      FOR EACH STATEMENT EXECUTE FUNCTION vms_audit_append_only()`)

    for (const table of ['audit_events', 'audit_chain_heads', 'audit_checkpoints']) {
      this.addSql(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`)
      this.addSql(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`)
      this.addSql(`CREATE POLICY tenant_read ON ${table} FOR SELECT TO vms_app
        USING (tenant_id = vms_current_tenant() OR vms_cross_tenant())`)
      this.addSql(`CREATE POLICY system_all ON ${table} FOR ALL TO vms_system USING (true) WITH CHECK (true)`)
      this.addSql(`GRANT SELECT ON ${table} TO vms_app`)
    }
    this.addSql('GRANT SELECT, INSERT ON audit_events, audit_checkpoints TO vms_system')
    this.addSql('GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO vms_system')
    this.addSql('GRANT USAGE ON SEQUENCE audit_events_id_seq, audit_checkpoints_id_seq TO vms_system')
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS audit_checkpoints')
    this.addSql('DROP TABLE IF EXISTS audit_chain_heads')
    this.addSql('DROP TABLE IF EXISTS audit_events')
    this.addSql('DROP FUNCTION IF EXISTS vms_audit_append_only()')
  }
}

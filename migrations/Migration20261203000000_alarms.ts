import { Migration } from '@mikro-orm/migrations'
import { tenantTableSql } from './tenant-table.ts'

/**
 * Fleet alarms and their notifications (issue 16).
 *
 * - `alarm_rules`: what to watch, per tenant, scoped to the tenant, a site or a camera.
 * - `alarms`: one row per (rule, target) while it is not closed (a partial unique index, so two
 *   hubs evaluating at once cannot open two), with an occurrence count; closed rows stay as
 *   history. `target` is the key of what the alarm is about (`agent:<id>`, `camera:<id>`,
 *   `tenant:<id>`, `object:<camera id>`).
 * - `alarm_conditions`: when a rule's condition was first seen true for a target and not yet for
 *   long enough to open an alarm (`camera.offline` for 60 s): kept in the database so a hub
 *   restart does not restart the clock and several hubs agree.
 * - `agents.clock_offset_ms`: the agent's clock minus the hub's, measured on each batch the agent
 *   sends (its `sentAt` against the hub's receipt), for `clock.drift`.
 * - `notification_channels`: where alarm changes go (webhook, e-mail, MQTT); secrets sealed.
 * - `notification_deliveries`: the durable queue. A delivery is inserted in the transaction that
 *   changes the alarm, so a change is never without its notifications; workers take due rows with
 *   `FOR UPDATE SKIP LOCKED`; `delivery_id` is the idempotency key a receiver sees
 *   (`X-VMS-Delivery`), the same on every retry. `state`: pending → delivered | dead.
 */
export class Migration20261203000000_alarms extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE alarm_rules (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      kind text NOT NULL,
      scope_type text NOT NULL CHECK (scope_type IN ('tenant', 'site', 'camera')),
      scope_id uuid NULL,
      params jsonb NOT NULL DEFAULT '{}'::jsonb,
      priority smallint NOT NULL CHECK (priority BETWEEN 1 AND 3),
      channels uuid[] NOT NULL DEFAULT '{}',
      enabled boolean NOT NULL DEFAULT true,
      created_by uuid NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((scope_type = 'tenant') = (scope_id IS NULL))
    )`)
    this.addSql('CREATE INDEX alarm_rules_tenant_idx ON alarm_rules (tenant_id, kind)')

    this.addSql(`CREATE TABLE alarms (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      rule_id uuid NULL REFERENCES alarm_rules (id) ON DELETE SET NULL,
      kind text NOT NULL,
      priority smallint NOT NULL CHECK (priority BETWEEN 1 AND 3),
      target text NOT NULL,
      state text NOT NULL CHECK (state IN ('open', 'acknowledged', 'closed')),
      site_id uuid NULL,
      agent_id uuid NULL,
      camera_id uuid NULL,
      opened_at timestamptz NOT NULL DEFAULT now(),
      last_seen_at timestamptz NOT NULL DEFAULT now(),
      count integer NOT NULL DEFAULT 1,
      acknowledged_by uuid NULL,
      acknowledged_by_name text NULL,
      acknowledged_at timestamptz NULL,
      acknowledge_comment text NULL,
      closed_at timestamptz NULL,
      closed_by uuid NULL,
      close_comment text NULL,
      cleared_at timestamptz NULL,
      details jsonb NOT NULL DEFAULT '{}'::jsonb
    )`)
    this.addSql(`CREATE UNIQUE INDEX alarms_one_active ON alarms (rule_id, target) WHERE state <> 'closed'`)
    this.addSql('CREATE INDEX alarms_tenant_state_idx ON alarms (tenant_id, state, opened_at DESC)')
    this.addSql('CREATE INDEX alarms_site_idx ON alarms (tenant_id, site_id, opened_at DESC)')
    this.addSql('CREATE INDEX alarms_camera_idx ON alarms (tenant_id, camera_id, opened_at DESC)')

    this.addSql('ALTER TABLE agents ADD COLUMN clock_offset_ms integer NULL')
    this.addSql('ALTER TABLE agents ADD COLUMN clock_measured_at timestamptz NULL')

    this.addSql(`CREATE TABLE alarm_conditions (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      rule_id uuid NOT NULL REFERENCES alarm_rules (id) ON DELETE CASCADE,
      target text NOT NULL,
      since timestamptz NOT NULL,
      PRIMARY KEY (rule_id, target)
    )`)

    this.addSql(`CREATE TABLE notification_channels (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      type text NOT NULL CHECK (type IN ('webhook', 'email', 'mqtt')),
      config jsonb NOT NULL DEFAULT '{}'::jsonb,
      secret_sealed text NULL,
      enabled boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`)
    this.addSql(
      'CREATE UNIQUE INDEX notification_channels_name ON notification_channels (tenant_id, lower(name))',
    )

    this.addSql(`CREATE TABLE notification_deliveries (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      channel_id uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
      alarm_id uuid NULL REFERENCES alarms (id) ON DELETE SET NULL,
      event text NOT NULL CHECK (event IN ('opened', 'acknowledged', 'closed', 'reopened', 'test')),
      payload jsonb NOT NULL,
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      last_error text NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      delivered_at timestamptz NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`)
    this.addSql(
      `CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE state = 'pending'`,
    )
    this.addSql(
      'CREATE INDEX notification_deliveries_tenant_idx ON notification_deliveries (tenant_id, state, created_at DESC)',
    )

    for (const table of [
      'alarm_rules',
      'alarms',
      'alarm_conditions',
      'notification_channels',
      'notification_deliveries',
    ])
      for (const sql of tenantTableSql(table)) this.addSql(sql)
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS notification_deliveries')
    this.addSql('DROP TABLE IF EXISTS notification_channels')
    this.addSql('DROP TABLE IF EXISTS alarm_conditions')
    this.addSql('DROP TABLE IF EXISTS alarms')
    this.addSql('DROP TABLE IF EXISTS alarm_rules')
    this.addSql('ALTER TABLE agents DROP COLUMN IF EXISTS clock_offset_ms')
    this.addSql('ALTER TABLE agents DROP COLUMN IF EXISTS clock_measured_at')
  }
}

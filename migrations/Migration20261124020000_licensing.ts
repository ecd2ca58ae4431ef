import { Migration } from '@mikro-orm/migrations'

/**
 * Licenses, one history per tenant (the newest installed is in force), and the license clock: the
 * latest time the hub has seen, so that setting the system clock back does not revive an expired
 * license.
 */
export class Migration20261124020000_licensing extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE licenses (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      license_id uuid NOT NULL,
      customer text NOT NULL,
      issued_at timestamptz NOT NULL,
      not_before timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      features text[] NOT NULL,
      limits jsonb NOT NULL,
      bound_tenant text,
      text text NOT NULL,
      installed_at timestamptz NOT NULL DEFAULT now(),
      installed_by uuid
    )`)
    this.addSql('CREATE INDEX licenses_tenant_idx ON licenses (tenant_id, installed_at DESC)')
    this.addSql('ALTER TABLE licenses ENABLE ROW LEVEL SECURITY')
    this.addSql('ALTER TABLE licenses FORCE ROW LEVEL SECURITY')
    this.addSql(`CREATE POLICY tenant_isolation ON licenses FOR ALL TO vms_app
      USING (tenant_id = vms_current_tenant() OR vms_cross_tenant())
      WITH CHECK (tenant_id = vms_current_tenant() OR vms_cross_tenant())`)
    this.addSql('CREATE POLICY system_all ON licenses FOR ALL TO vms_system USING (true) WITH CHECK (true)')
    this.addSql('GRANT SELECT, INSERT ON licenses TO vms_app, vms_system')

    this.addSql(`CREATE TABLE license_clock (
      id integer PRIMARY KEY CHECK (id = 1),
      max_seen timestamptz NOT NULL
    )`)
    this.addSql('INSERT INTO license_clock (id, max_seen) VALUES (1, now())')
    this.addSql('GRANT SELECT, UPDATE ON license_clock TO vms_app, vms_system')
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS license_clock')
    this.addSql('DROP TABLE IF EXISTS licenses')
  }
}

import { Migration } from '@mikro-orm/migrations'

/**
 * Signed exports (issue 16).
 *
 * - hub_installation: this hub installation's stable id (one row), named in every export manifest.
 * - export_signing_keys: the Ed25519 keys that sign export manifests, apart from the access-token
 *   keys (signing_keys) so rotating those never touches an export. The private half is sealed with
 *   the master key. Never updated or deleted: an old export must stay verifiable.
 * - export_signatures: the signed manifest of each export (canonical JSON), written once.
 */
export class Migration20261202000000_export_keys extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE hub_installation (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      hub_id uuid NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`)
    this.addSql('GRANT SELECT, INSERT ON hub_installation TO vms_system')

    this.addSql(`CREATE TABLE export_signing_keys (
      key_id text PRIMARY KEY,
      public_key text NOT NULL,
      private_key_sealed text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )`)
    this.addSql('GRANT SELECT, INSERT ON export_signing_keys TO vms_system')

    this.addSql(`CREATE TABLE export_signatures (
      export_id uuid PRIMARY KEY REFERENCES exports (id),
      tenant_id uuid NOT NULL,
      key_id text NOT NULL REFERENCES export_signing_keys (key_id),
      manifest text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`)
    this.addSql('ALTER TABLE export_signatures ENABLE ROW LEVEL SECURITY')
    this.addSql('ALTER TABLE export_signatures FORCE ROW LEVEL SECURITY')
    this.addSql(`CREATE POLICY tenant_isolation ON export_signatures FOR ALL TO vms_app
      USING (tenant_id = vms_current_tenant() OR vms_cross_tenant())
      WITH CHECK (tenant_id = vms_current_tenant() OR vms_cross_tenant())`)
    this.addSql(
      'CREATE POLICY system_all ON export_signatures FOR ALL TO vms_system USING (true) WITH CHECK (true)',
    )
    // Evidence: written once, never changed.
    this.addSql('GRANT SELECT, INSERT ON export_signatures TO vms_app, vms_system')
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS export_signatures')
    this.addSql('DROP TABLE IF EXISTS export_signing_keys')
    this.addSql('DROP TABLE IF EXISTS hub_installation')
  }
}

import { Migration } from '@mikro-orm/migrations'

/**
 * Analytics models uploaded to the hub (issue 13): a tenant's ONNX detection models, validated
 * when uploaded (they load; their shapes fit the format and labels), kept with their bytes so the
 * tenant's agents can download them (`GET /api/v1/agent/models/:id`) and check the SHA-256.
 * `default` is the built-in model every agent provides itself: never a row.
 */
export class Migration20261130010000_models extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE analytics_models (
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      id text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' AND id <> 'default'),
      format text NOT NULL CHECK (format IN ('yolox', 'yolov8')),
      labels jsonb NOT NULL CHECK (jsonb_typeof(labels) = 'array'),
      sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
      bytes integer NOT NULL CHECK (bytes > 0),
      data bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      created_by uuid NULL,
      PRIMARY KEY (tenant_id, id)
    )`)
    this.addSql('ALTER TABLE analytics_models ENABLE ROW LEVEL SECURITY')
    this.addSql('ALTER TABLE analytics_models FORCE ROW LEVEL SECURITY')
    this.addSql(`CREATE POLICY tenant_isolation ON analytics_models FOR ALL TO vms_app
      USING (tenant_id = vms_current_tenant() OR vms_cross_tenant())
      WITH CHECK (tenant_id = vms_current_tenant() OR vms_cross_tenant())`)
    this.addSql(
      'CREATE POLICY system_all ON analytics_models FOR ALL TO vms_system USING (true) WITH CHECK (true)',
    )
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON analytics_models TO vms_app, vms_system')
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS analytics_models')
  }
}

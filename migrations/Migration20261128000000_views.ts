import { Migration } from '@mikro-orm/migrations'

/**
 * Saved live views: a user's named grid layouts (`1`, `2x2`, `3x3`, `4x4`) and the camera in each
 * tile (null: an empty tile). A view belongs to its user alone and goes with them. Camera ids are
 * kept as given, without a foreign key: a camera deleted or no longer visible shows as an
 * unavailable tile rather than silently changing the user's layout.
 */
export class Migration20261128000000_views extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE saved_views (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      user_id uuid NOT NULL,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      layout text NOT NULL CHECK (layout IN ('1', '2x2', '3x3', '4x4')),
      camera_ids jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(camera_ids) = 'array'),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
    )`)
    this.addSql('CREATE UNIQUE INDEX saved_views_name_key ON saved_views (user_id, lower(name))')
    this.addSql('ALTER TABLE saved_views ENABLE ROW LEVEL SECURITY')
    this.addSql('ALTER TABLE saved_views FORCE ROW LEVEL SECURITY')
    this.addSql(`CREATE POLICY tenant_isolation ON saved_views FOR ALL TO vms_app
      USING (tenant_id = vms_current_tenant() OR vms_cross_tenant())
      WITH CHECK (tenant_id = vms_current_tenant() OR vms_cross_tenant())`)
    this.addSql(
      'CREATE POLICY system_all ON saved_views FOR ALL TO vms_system USING (true) WITH CHECK (true)',
    )
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON saved_views TO vms_app, vms_system')
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS saved_views')
  }
}

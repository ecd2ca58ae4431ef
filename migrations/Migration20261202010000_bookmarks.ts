import { Migration } from '@mikro-orm/migrations'

/**
 * Bookmarks (issue 16): a user's named mark on a camera's recording, a time range with a title
 * and an optional note, shown on the playback timeline. They go with their camera; the creator is
 * kept as an id only (a bookmark outlives the user who made it).
 */
export class Migration20261202010000_bookmarks extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE bookmarks (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      site_id uuid NOT NULL,
      camera_id uuid NOT NULL,
      "from" timestamptz NOT NULL,
      "to" timestamptz NOT NULL,
      title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
      note text NULL CHECK (length(note) <= 4000),
      created_by uuid NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CHECK ("to" >= "from" AND "to" - "from" <= interval '24 hours'),
      FOREIGN KEY (tenant_id, camera_id) REFERENCES cameras (tenant_id, id) ON DELETE CASCADE
    )`)
    this.addSql('CREATE INDEX bookmarks_camera_idx ON bookmarks (tenant_id, camera_id, "from")')
    this.addSql('ALTER TABLE bookmarks ENABLE ROW LEVEL SECURITY')
    this.addSql('ALTER TABLE bookmarks FORCE ROW LEVEL SECURITY')
    this.addSql(`CREATE POLICY tenant_isolation ON bookmarks FOR ALL TO vms_app
      USING (tenant_id = vms_current_tenant() OR vms_cross_tenant())
      WITH CHECK (tenant_id = vms_current_tenant() OR vms_cross_tenant())`)
    this.addSql('CREATE POLICY system_all ON bookmarks FOR ALL TO vms_system USING (true) WITH CHECK (true)')
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON bookmarks TO vms_app, vms_system')
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS bookmarks')
  }
}

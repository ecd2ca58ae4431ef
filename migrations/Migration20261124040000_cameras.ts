import { Migration } from '@mikro-orm/migrations'

/**
 * Cameras gain what an agent needs to record them, and exports leave a manifest.
 *
 * - cameras.agent_id: the agent (in the camera's site) that pulls its streams; null while the
 *   camera is only planned. Revoking or removing the agent leaves the camera unassigned.
 * - cameras.streams: `[{role, url, username?, passwordSealed?, transport}]`. The password is
 *   sealed with the hub's master key (AES-256-GCM), bound to camera and role; it is never stored or
 *   returned in clear.
 * - cameras.recording: `{enabled, retentionDays}`.
 * - exports: the manifest of every export (range, actual start and end, SHA-256 and size of the
 *   file handed out), so a file produced as evidence can be verified later. No foreign key to the
 *   camera: the manifest outlives it.
 */
export class Migration20261124040000_cameras extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE cameras ADD COLUMN agent_id uuid')
    this.addSql(`ALTER TABLE cameras ADD COLUMN streams jsonb NOT NULL DEFAULT '[]'::jsonb`)
    this.addSql(
      `ALTER TABLE cameras ADD COLUMN recording jsonb NOT NULL DEFAULT '{"enabled":true,"retentionDays":30}'::jsonb`,
    )
    this.addSql(`ALTER TABLE cameras ADD CONSTRAINT cameras_agent_fk FOREIGN KEY (tenant_id, agent_id)
      REFERENCES agents (tenant_id, id) ON DELETE SET NULL (agent_id)`)
    this.addSql('CREATE INDEX cameras_agent_idx ON cameras (agent_id) WHERE agent_id IS NOT NULL')

    this.addSql(`CREATE TABLE exports (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      site_id uuid NOT NULL,
      camera_id uuid NOT NULL,
      agent_id uuid NOT NULL,
      requested_from timestamptz NOT NULL,
      requested_to timestamptz NOT NULL,
      start_at timestamptz NOT NULL,
      end_at timestamptz NOT NULL,
      sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
      bytes bigint NOT NULL,
      frames integer NOT NULL,
      codec text NOT NULL,
      width integer NOT NULL,
      height integer NOT NULL,
      truncated_at timestamptz,
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT now()
    )`)
    this.addSql('CREATE INDEX exports_camera_idx ON exports (tenant_id, camera_id, created_at DESC)')
    this.addSql('ALTER TABLE exports ENABLE ROW LEVEL SECURITY')
    this.addSql('ALTER TABLE exports FORCE ROW LEVEL SECURITY')
    this.addSql(`CREATE POLICY tenant_isolation ON exports FOR ALL TO vms_app
      USING (tenant_id = vms_current_tenant() OR vms_cross_tenant())
      WITH CHECK (tenant_id = vms_current_tenant() OR vms_cross_tenant())`)
    this.addSql('CREATE POLICY system_all ON exports FOR ALL TO vms_system USING (true) WITH CHECK (true)')
    // A manifest is evidence: it is written once and never changed.
    this.addSql('GRANT SELECT, INSERT ON exports TO vms_app, vms_system')
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS exports')
    this.addSql('DROP INDEX IF EXISTS cameras_agent_idx')
    this.addSql('ALTER TABLE cameras DROP CONSTRAINT IF EXISTS cameras_agent_fk')
    this.addSql('ALTER TABLE cameras DROP COLUMN IF EXISTS recording')
    this.addSql('ALTER TABLE cameras DROP COLUMN IF EXISTS streams')
    this.addSql('ALTER TABLE cameras DROP COLUMN IF EXISTS agent_id')
  }
}

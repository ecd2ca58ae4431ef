import { Migration } from '@mikro-orm/migrations'
import { tenantTableSql } from './tenant-table.ts'

/**
 * Cases (issue 16): clips and notes kept together as evidence, downloaded as one zip. A clip's MP4
 * lives on the hub's disk (`<VMS_DATA_DIR>/cases/<caseId>/<clipId>.mp4`, see hub/src/cases) and
 * its signed manifest in `export_signatures`; these tables hold what the case is and where each
 * clip stands. Clips name their camera and site but do not reference them: evidence outlives the
 * camera it came from (a removed camera must not delete a case).
 */
export class Migration20261203020000_cases extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE TABLE cases (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      description text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
      created_by uuid NULL,
      created_by_name text NOT NULL DEFAULT '',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tenant_id, id)
    )`)
    this.addSql('CREATE INDEX cases_tenant_idx ON cases (tenant_id, created_at DESC)')
    this.addSql(`CREATE TABLE case_clips (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      case_id uuid NOT NULL,
      position int NOT NULL CHECK (position BETWEEN 0 AND 99),
      camera_id uuid NOT NULL,
      camera_name text NOT NULL DEFAULT '',
      site_id uuid NOT NULL,
      "from" timestamptz NOT NULL,
      "to" timestamptz NOT NULL,
      note text NOT NULL DEFAULT '' CHECK (length(note) <= 4000),
      state text NOT NULL DEFAULT 'collecting' CHECK (state IN ('collecting', 'ready', 'failed')),
      error text NULL CHECK (length(error) <= 1000),
      collector uuid NULL,
      heartbeat_at timestamptz NOT NULL DEFAULT now(),
      export_id uuid NULL,
      start_at timestamptz NULL,
      end_at timestamptz NULL,
      sha256 text NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
      bytes bigint NULL CHECK (bytes > 0),
      collected_by uuid NULL,
      collected_at timestamptz NULL,
      CHECK ("to" > "from" AND "to" - "from" <= interval '24 hours'),
      CHECK (state <> 'ready' OR (export_id IS NOT NULL AND sha256 IS NOT NULL AND bytes IS NOT NULL)),
      UNIQUE (case_id, position),
      FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id) ON DELETE CASCADE
    )`)
    this.addSql(
      `CREATE INDEX case_clips_collecting_idx ON case_clips (heartbeat_at) WHERE state = 'collecting'`,
    )
    this.addSql(`CREATE TABLE case_notes (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      case_id uuid NOT NULL,
      text text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
      created_by uuid NULL,
      created_by_name text NOT NULL DEFAULT '',
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id) ON DELETE CASCADE
    )`)
    this.addSql('CREATE INDEX case_notes_case_idx ON case_notes (case_id, created_at)')
    for (const table of ['cases', 'case_clips', 'case_notes'])
      for (const sql of tenantTableSql(table)) this.addSql(sql)
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE IF EXISTS case_notes')
    this.addSql('DROP TABLE IF EXISTS case_clips')
    this.addSql('DROP TABLE IF EXISTS cases')
  }
}

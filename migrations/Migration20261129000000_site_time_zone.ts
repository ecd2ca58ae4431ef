import { Migration } from '@mikro-orm/migrations'

/**
 * A site's time zone (IANA name, canonical spelling; null: not set). Times are stored and sent in
 * UTC everywhere; the zone only lets the console show a site's own wall clock beside the
 * operator's (a central team in one zone watches stores in several). The length check is the
 * database's last word; the API validates the name against the runtime's zone list.
 */
export class Migration20261129000000_site_time_zone extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'ALTER TABLE sites ADD COLUMN time_zone text NULL CHECK (time_zone IS NULL OR length(time_zone) BETWEEN 1 AND 64)',
    )
  }

  override async down(): Promise<void> {
    this.addSql('ALTER TABLE sites DROP COLUMN IF EXISTS time_zone')
  }
}

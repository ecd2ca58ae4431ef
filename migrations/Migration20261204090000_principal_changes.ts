import { Migration } from '@mikro-orm/migrations'

/**
 * Principal changes (issue 17): hubs cache each user's principal (account state and role
 * bindings) so an authenticated request costs no identity queries. Triggers on every table a
 * principal is made from announce each change, so no code path (an API route, a CLI command, a
 * hand-written UPDATE) can leave a cache stale:
 *   - `RAISE NOTICE` reaches the session that made the change, at once: the hub that made it drops
 *     its entry before it answers;
 *   - `pg_notify('vms_principal_changes', …)` reaches every hub listening after the commit.
 * The payload is `<tenant id>` or `<tenant id>:<user id>`, or `*` for a built-in role (every
 * tenant's users may hold it). A deleted tenant's users go with it (cascade), each announced.
 */
const CHANNEL = 'vms_principal_changes'

export class Migration20261204090000_principal_changes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`CREATE FUNCTION vms_principal_changed(payload text) RETURNS void
      LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('${CHANNEL}', payload);
        RAISE NOTICE USING MESSAGE = 'vms_principal_changed', DETAIL = payload;
      END $$`)
    // One user's principal: the trigger's argument names the row's user column. Both the old and
    // the new row are announced (a binding moved to another user changes both).
    this.addSql(`CREATE FUNCTION vms_user_principal_changed() RETURNS trigger
      LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP <> 'INSERT' THEN
          PERFORM vms_principal_changed((to_jsonb(OLD) ->> 'tenant_id') || ':' || (to_jsonb(OLD) ->> TG_ARGV[0]));
        END IF;
        IF TG_OP <> 'DELETE' THEN
          PERFORM vms_principal_changed((to_jsonb(NEW) ->> 'tenant_id') || ':' || (to_jsonb(NEW) ->> TG_ARGV[0]));
        END IF;
        RETURN NULL;
      END $$`)
    this.addSql(`CREATE FUNCTION vms_tenant_principals_changed() RETURNS trigger
      LANGUAGE plpgsql AS $$
      DECLARE r record;
      BEGIN
        r := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        PERFORM vms_principal_changed(coalesce(r.tenant_id::text, '*'));
        RETURN NULL;
      END $$`)
    // users: identity fields a principal carries; a login's last-seen update changes nothing.
    this.addSql(`CREATE TRIGGER users_principal_changed
      AFTER UPDATE OF username, session_version, disabled, tenant_id OR DELETE ON users
      FOR EACH ROW EXECUTE FUNCTION vms_user_principal_changed('id')`)
    this.addSql(`CREATE TRIGGER role_bindings_principal_changed
      AFTER INSERT OR UPDATE OR DELETE ON role_bindings
      FOR EACH ROW EXECUTE FUNCTION vms_user_principal_changed('user_id')`)
    // A role's permissions or name, and a camera's site (a camera grant shows its site), change
    // the principals of everyone bound to them: the whole tenant is dropped (rare changes).
    this.addSql(`CREATE TRIGGER roles_principal_changed
      AFTER UPDATE OF name, permissions OR DELETE ON roles
      FOR EACH ROW EXECUTE FUNCTION vms_tenant_principals_changed()`)
    this.addSql(`CREATE TRIGGER cameras_principal_changed
      AFTER UPDATE OF site_id OR DELETE ON cameras
      FOR EACH ROW EXECUTE FUNCTION vms_tenant_principals_changed()`)
  }

  override async down(): Promise<void> {
    for (const [trigger, table] of [
      ['users_principal_changed', 'users'],
      ['role_bindings_principal_changed', 'role_bindings'],
      ['roles_principal_changed', 'roles'],
      ['cameras_principal_changed', 'cameras'],
    ])
      this.addSql(`DROP TRIGGER IF EXISTS ${trigger} ON ${table}`)
    for (const fn of ['vms_tenant_principals_changed', 'vms_user_principal_changed'])
      this.addSql(`DROP FUNCTION IF EXISTS ${fn}()`)
    this.addSql('DROP FUNCTION IF EXISTS vms_principal_changed(text)')
  }
}

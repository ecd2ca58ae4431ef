import { Migration } from '@mikro-orm/migrations'

/**
 * Identity, tenancy and RBAC, with row-level security.
 *
 * Two NOLOGIN roles carry the hub's traffic; the hub's connection user (the schema owner) switches
 * to one of them with SET LOCAL ROLE at the start of every transaction:
 *   - vms_app: all request traffic. Neither superuser nor BYPASSRLS; every tenant-owned table has
 *     FORCE ROW LEVEL SECURITY with a policy keyed on the per-transaction settings vms.tenant_id and
 *     vms.cross_tenant, so a query that forgets its tenant filter sees nothing of another tenant.
 *   - vms_system: the few pre-authentication and maintenance paths (tenant lookup by slug at login,
 *     first-start bootstrap, signing keys). Also not BYPASSRLS: it is admitted by explicit policies.
 * Roles are cluster-wide, so creating them tolerates a concurrent creator (tests run in parallel
 * databases of one cluster).
 */
const TENANT_TABLES = [
  'sites',
  'cameras',
  'users',
  'role_bindings',
  'refresh_tokens',
  'password_reset_tokens',
] as const

export class Migration20261124000000_identity extends Migration {
  override async up(): Promise<void> {
    for (const role of ['vms_app', 'vms_system']) {
      this.addSql(`DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
          CREATE ROLE ${role} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
        END IF;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END $$`)
      this.addSql(`DO $$ BEGIN
        EXECUTE format('GRANT ${role} TO %I', current_user);
      EXCEPTION WHEN duplicate_object OR unique_violation OR invalid_grant_operation THEN NULL;
      END $$`)
    }

    this.addSql(`CREATE FUNCTION vms_current_tenant() RETURNS uuid LANGUAGE sql STABLE AS
      $$ SELECT nullif(current_setting('vms.tenant_id', true), '')::uuid $$`)
    this.addSql(`CREATE FUNCTION vms_cross_tenant() RETURNS boolean LANGUAGE sql STABLE AS
      $$ SELECT coalesce(current_setting('vms.cross_tenant', true), '') = 'on' $$`)

    this.addSql(`CREATE TABLE tenants (
      id uuid PRIMARY KEY,
      slug text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`)
    this.addSql('CREATE UNIQUE INDEX tenants_slug_key ON tenants (slug)')

    this.addSql(`CREATE TABLE sites (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tenant_id, id)
    )`)
    this.addSql('CREATE UNIQUE INDEX sites_name_key ON sites (tenant_id, lower(name))')

    this.addSql(`CREATE TABLE cameras (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      site_id uuid NOT NULL,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tenant_id, id),
      FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id) ON DELETE RESTRICT
    )`)
    this.addSql('CREATE UNIQUE INDEX cameras_name_key ON cameras (site_id, lower(name))')
    this.addSql('CREATE INDEX cameras_tenant_idx ON cameras (tenant_id)')

    this.addSql(`CREATE TABLE users (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
      username text NOT NULL CHECK (length(username) BETWEEN 1 AND 100),
      email text,
      display_name text,
      password_hash text NOT NULL,
      disabled boolean NOT NULL DEFAULT false,
      session_version integer NOT NULL DEFAULT 0,
      last_login_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tenant_id, id)
    )`)
    this.addSql('CREATE UNIQUE INDEX users_username_key ON users (tenant_id, lower(username))')
    this.addSql(
      'CREATE UNIQUE INDEX users_email_key ON users (tenant_id, lower(email)) WHERE email IS NOT NULL',
    )

    this.addSql(`CREATE TABLE roles (
      id uuid PRIMARY KEY,
      tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      description text,
      permissions text[] NOT NULL,
      builtin boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (builtin = (tenant_id IS NULL))
    )`)
    this.addSql('CREATE UNIQUE INDEX roles_builtin_name_key ON roles (lower(name)) WHERE tenant_id IS NULL')
    this.addSql(
      'CREATE UNIQUE INDEX roles_tenant_name_key ON roles (tenant_id, lower(name)) WHERE tenant_id IS NOT NULL',
    )

    this.addSql(`CREATE TABLE role_bindings (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      user_id uuid NOT NULL,
      role_id uuid NOT NULL REFERENCES roles (id),
      scope_type text NOT NULL CHECK (scope_type IN ('tenant', 'site', 'camera')),
      site_id uuid,
      camera_id uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
      FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id) ON DELETE CASCADE,
      FOREIGN KEY (tenant_id, camera_id) REFERENCES cameras (tenant_id, id) ON DELETE CASCADE,
      CHECK (
        (scope_type = 'tenant' AND site_id IS NULL AND camera_id IS NULL) OR
        (scope_type = 'site' AND site_id IS NOT NULL AND camera_id IS NULL) OR
        (scope_type = 'camera' AND camera_id IS NOT NULL AND site_id IS NULL)
      )
    )`)
    this.addSql(`CREATE UNIQUE INDEX role_bindings_unique_key ON role_bindings
      (user_id, role_id, scope_type, coalesce(site_id, camera_id, '00000000-0000-0000-0000-000000000000'::uuid))`)
    this.addSql('CREATE INDEX role_bindings_tenant_idx ON role_bindings (tenant_id)')
    this.addSql('CREATE INDEX role_bindings_role_idx ON role_bindings (role_id)')
    // A binding may only use a built-in role or a custom role of the binding's own tenant.
    this.addSql(`CREATE FUNCTION vms_check_binding_role() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM roles r WHERE r.id = NEW.role_id
                       AND (r.tenant_id IS NULL OR r.tenant_id = NEW.tenant_id)) THEN
          RAISE EXCEPTION 'role % is not available in tenant %', NEW.role_id, NEW.tenant_id
            USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NEW;
      END $$`)
    this.addSql(`CREATE TRIGGER role_bindings_role_tenant BEFORE INSERT OR UPDATE ON role_bindings
      FOR EACH ROW EXECUTE FUNCTION vms_check_binding_role()`)

    this.addSql(`CREATE TABLE refresh_tokens (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      user_id uuid NOT NULL,
      family_id uuid NOT NULL,
      parent_id uuid,
      token_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      revoked_at timestamptz,
      revoked_reason text,
      client_ip text,
      user_agent text,
      FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
    )`)
    this.addSql('CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id)')
    this.addSql('CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id)')
    this.addSql('CREATE INDEX refresh_tokens_expiry_idx ON refresh_tokens (expires_at)')

    this.addSql(`CREATE TABLE password_reset_tokens (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL,
      user_id uuid NOT NULL,
      token_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
    )`)
    this.addSql('CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id)')

    // Not tenant-owned: only vms_system may touch it (vms_app gets no grant at all).
    this.addSql(`CREATE TABLE signing_keys (
      kid text PRIMARY KEY,
      alg text NOT NULL,
      public_jwk jsonb NOT NULL,
      private_key_sealed text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      retired_at timestamptz
    )`)

    // Row-level security.
    this.addSql('GRANT USAGE ON SCHEMA public TO vms_app, vms_system')
    this.addSql('GRANT EXECUTE ON FUNCTION vms_current_tenant(), vms_cross_tenant() TO vms_app, vms_system')
    for (const table of ['tenants', 'roles', ...TENANT_TABLES]) {
      this.addSql(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`)
      this.addSql(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`)
      this.addSql(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO vms_app, vms_system`)
      this.addSql(`CREATE POLICY system_all ON ${table} FOR ALL TO vms_system USING (true) WITH CHECK (true)`)
    }
    for (const table of TENANT_TABLES) {
      this.addSql(`CREATE POLICY tenant_isolation ON ${table} FOR ALL TO vms_app
        USING (tenant_id = vms_current_tenant() OR vms_cross_tenant())
        WITH CHECK (tenant_id = vms_current_tenant() OR vms_cross_tenant())`)
    }
    this.addSql(`CREATE POLICY tenant_isolation ON tenants FOR ALL TO vms_app
      USING (id = vms_current_tenant() OR vms_cross_tenant())
      WITH CHECK (id = vms_current_tenant() OR vms_cross_tenant())`)
    // Built-in roles (tenant_id NULL) are readable by everyone and writable by nobody but vms_system.
    this.addSql(`CREATE POLICY builtin_read ON roles FOR SELECT TO vms_app USING (tenant_id IS NULL)`)
    this.addSql(`CREATE POLICY tenant_isolation ON roles FOR ALL TO vms_app
      USING (tenant_id IS NOT NULL AND (tenant_id = vms_current_tenant() OR vms_cross_tenant()))
      WITH CHECK (tenant_id IS NOT NULL AND (tenant_id = vms_current_tenant() OR vms_cross_tenant()))`)
    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON signing_keys TO vms_system')
  }

  override async down(): Promise<void> {
    // The roles are cluster-wide and may serve other databases, so they stay.
    for (const table of [
      'signing_keys',
      'password_reset_tokens',
      'refresh_tokens',
      'role_bindings',
      'roles',
      'users',
      'cameras',
      'sites',
      'tenants',
    ]) {
      this.addSql(`DROP TABLE IF EXISTS ${table} CASCADE`)
    }
    this.addSql('DROP FUNCTION IF EXISTS vms_check_binding_role()')
    this.addSql('DROP FUNCTION IF EXISTS vms_current_tenant()')
    this.addSql('DROP FUNCTION IF EXISTS vms_cross_tenant()')
  }
}

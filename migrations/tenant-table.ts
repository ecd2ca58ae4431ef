/**
 * Row-level security for a table of one tenant's rows (a `tenant_id` column): the application role
 * sees and writes its tenant's rows only (or every tenant's, for a system-admin's cross-tenant
 * transaction), the system role everything. The statements every tenant table gets, as the
 * identity migration set them out; a migration adds them with `this.addSql` after its CREATE TABLE.
 */
export function tenantTableSql(table: string): string[] {
  return [
    `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`,
    `ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`,
    `CREATE POLICY tenant_isolation ON ${table} FOR ALL TO vms_app
      USING (tenant_id = vms_current_tenant() OR vms_cross_tenant())
      WITH CHECK (tenant_id = vms_current_tenant() OR vms_cross_tenant())`,
    `CREATE POLICY system_all ON ${table} FOR ALL TO vms_system USING (true) WITH CHECK (true)`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO vms_app, vms_system`,
  ]
}

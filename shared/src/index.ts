export * from './rbac/permissions.ts'

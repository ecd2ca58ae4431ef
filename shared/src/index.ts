export * from './crypto/secret-box.ts'
export * from './protocol/messages.ts'
export * from './protocol/topics.ts'
export * from './rbac/permissions.ts'

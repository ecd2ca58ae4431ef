export * from './checks.ts'
export * from './report.ts'

import { Migrator } from '@mikro-orm/migrations'
import { type EntityManager, MikroORM, PostgreSqlDriver } from '@mikro-orm/postgresql'
import type { Logger } from 'pino'
import { migrationsList } from '../../../migrations/index.ts'
import { allEntities } from './entities.ts'

/**
 * The hub's database access. Every unit of work runs in a transaction that first switches to a
 * restricted role and sets the row-level-security context, so no code path can query tenant data
 * without saying whose it is:
 *   - withTenant: as vms_app, for request traffic, scoped to one tenant (or, for system-admins,
 *     explicitly to all tenants);
 *   - withSystem: as vms_system, for the few paths that run before a tenant is known.
 */
export interface TenantScope {
  tenantId: string
  /** True only for principals who may act in every tenant (system-admins). */
  crossTenant?: boolean
}

export type Tx = EntityManager

export interface DatabaseOptions {
  /** A postgres:// URL, or explicit fields (for a Unix socket, whose path a URL cannot carry here). */
  url?: string
  connection?: { host: string; port: number; user: string; database: string }
  poolMax: number
  logger: Logger
}

/** How many recent principal-change notices are kept to replay after their transaction commits. */
const NOTICES_KEPT = 1024

interface PgNotice {
  message?: string
  detail?: string
}

export class Database {
  private readonly principalListeners = new Set<(payload: string) => void>()
  /** Principal-change notices seen on any pooled connection, newest last, numbered by `noticeSeq`. */
  private readonly principalNotices: { seq: number; payload: string }[] = []
  private noticeSeq = 0

  private constructor(
    readonly orm: MikroORM,
    private readonly logger: Logger,
  ) {}

  static async open(options: DatabaseOptions): Promise<Database> {
    const log = options.logger.child({ component: 'db' })
    let database: Database | undefined
    const orm = await MikroORM.init({
      driver: PostgreSqlDriver,
      ...(options.connection
        ? {
            host: options.connection.host,
            port: options.connection.port,
            user: options.connection.user,
            dbName: options.connection.database,
          }
        : { clientUrl: options.url }),
      entities: allEntities,
      extensions: [Migrator],
      migrations: {
        migrationsList,
        tableName: 'mikro_orm_migrations',
        transactional: true,
        allOrNothing: true,
        snapshot: false,
        silent: true,
      },
      pool: {
        min: 0,
        max: options.poolMax,
        // Triggers announce principal changes with a NOTICE to the session that made them.
        afterCreate: (
          connection: { on(event: 'notice', listener: (notice: PgNotice) => void): void },
          done: (err: Error | null, connection: unknown) => void,
        ) => {
          connection.on('notice', (notice) => database?.notice(notice))
          done(null, connection)
        },
      },
      driverOptions: { connection: { application_name: 'ts-vms-hub' } },
      allowGlobalContext: false,
      forceUtcTimezone: true,
      debug: false,
      logger: (message) => log.debug(message),
      discovery: { warnWhenNoEntities: false },
    })
    database = new Database(orm, log)
    return database
  }

  /**
   * Calls `listener` with each principal change this hub's own sessions make (the payload of the
   * principal_changes triggers): once when the trigger fires, and again once the transaction has
   * ended, so a principal loaded concurrently from data not yet committed is dropped too. Changes
   * other processes make arrive by LISTEN instead (see principal-change-listener.ts).
   */
  onPrincipalChange(listener: (payload: string) => void): () => void {
    this.principalListeners.add(listener)
    return () => this.principalListeners.delete(listener)
  }

  private notice(notice: PgNotice): void {
    if (notice.message !== 'vms_principal_changed') return
    const payload = notice.detail ?? '*'
    this.principalNotices.push({ seq: ++this.noticeSeq, payload })
    if (this.principalNotices.length > NOTICES_KEPT) this.principalNotices.shift()
    this.announce(payload)
  }

  private announce(payload: string): void {
    for (const listener of this.principalListeners) {
      try {
        listener(payload)
      } catch (err) {
        this.logger.error({ err }, 'a principal-change listener failed')
      }
    }
  }

  /** Runs a transaction, then replays the principal changes noticed while it ran. */
  private async replayingNotices<T>(run: () => Promise<T>): Promise<T> {
    const from = this.noticeSeq
    try {
      return await run()
    } finally {
      if (this.noticeSeq !== from) {
        const since = this.principalNotices.filter((n) => n.seq > from)
        // More than the kept notices happened: announce everything rather than a partial list.
        if ((this.principalNotices[0]?.seq ?? 0) > from + 1) this.announce('*')
        else for (const payload of new Set(since.map((n) => n.payload))) this.announce(payload)
      }
    }
  }

  async migrateUp(): Promise<string[]> {
    const applied = await this.orm.getMigrator().up()
    for (const m of applied) this.logger.info({ migration: m.name }, 'migration applied')
    return applied.map((m) => m.name)
  }

  async migrateDown(): Promise<string[]> {
    const reverted = await this.orm.getMigrator().down()
    return reverted.map((m) => m.name)
  }

  async migrationStatus(): Promise<{ executed: string[]; pending: string[] }> {
    const migrator = this.orm.getMigrator()
    const executed = (await migrator.getExecutedMigrations()).map((m) => m.name)
    const pending = (await migrator.getPendingMigrations()).map((m) => m.name)
    return { executed, pending }
  }

  withTenant<T>(scope: TenantScope, work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.replayingNotices(() =>
      this.orm.em.fork().transactional(async (tx) => {
        await tx.execute(
          `select set_config('role', 'vms_app', true), set_config('vms.tenant_id', ?, true), set_config('vms.cross_tenant', ?, true)`,
          [scope.tenantId, scope.crossTenant ? 'on' : 'off'],
        )
        return work(tx)
      }),
    )
  }

  withSystem<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.replayingNotices(() =>
      this.orm.em.fork().transactional(async (tx) => {
        await tx.execute(
          `select set_config('role', 'vms_system', true), set_config('vms.tenant_id', '', true), set_config('vms.cross_tenant', 'off', true)`,
        )
        return work(tx)
      }),
    )
  }

  /**
   * As the connection user, the schema owner: only for DDL the schema itself needs at run time
   * (audit partitions). Never for request traffic.
   */
  withOwner<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.replayingNotices(() => this.orm.em.fork().transactional(work))
  }

  /** True when the server is PGlite (one backend session however many clients it admits). */
  async servedByPglite(): Promise<boolean> {
    const [row]: { version: string }[] = await this.orm.em.fork().execute('select version() as version')
    return /\bPGlite\b/.test(row?.version ?? '')
  }

  /** True when the database answers a trivial query. */
  async ping(): Promise<boolean> {
    try {
      await this.orm.em.fork().execute('select 1')
      return true
    } catch {
      return false
    }
  }

  async close(): Promise<void> {
    await this.orm.close(true)
  }
}

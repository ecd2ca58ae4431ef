import pg from 'pg'
import type { Logger } from 'pino'

/**
 * Listens, on a connection of its own, for the principal changes other processes commit (other
 * hubs sharing the database, the CLI, an administrator's SQL): the `vms_principal_changes`
 * channel the principal_changes triggers notify on.
 *
 * A notification is lost if it is sent while the connection is down, so the owner is told when
 * the link drops (`onDown`: stop trusting the cache) and when it is back (`onUp`: start again from
 * empty). It reconnects with backoff until closed.
 */
export const PRINCIPAL_CHANGES_CHANNEL = 'vms_principal_changes'

export interface PrincipalChangeListenerOptions {
  connection: string | { host: string; port: number; user: string; database: string }
  logger: Logger
  onChange: (payload: string) => void
  onUp: () => void
  onDown: () => void
  /** Reconnection backoff bounds (ms). */
  retryMinMs?: number
  retryMaxMs?: number
}

export class PrincipalChangeListener {
  private client: pg.Client | undefined
  private closed = false
  private retryMs: number
  private retryTimer: NodeJS.Timeout | undefined
  private readonly log: Logger

  private constructor(private readonly o: PrincipalChangeListenerOptions) {
    this.retryMs = o.retryMinMs ?? 250
    this.log = o.logger.child({ component: 'principal-changes' })
  }

  /** Starts listening; resolves after the first attempt (connected or not: it keeps retrying). */
  static async start(options: PrincipalChangeListenerOptions): Promise<PrincipalChangeListener> {
    const listener = new PrincipalChangeListener(options)
    await listener.connect()
    return listener
  }

  private async connect(): Promise<void> {
    if (this.closed) return
    const client = new pg.Client(
      typeof this.o.connection === 'string'
        ? { connectionString: this.o.connection, application_name: 'ts-vms-hub-listen' }
        : { ...this.o.connection, application_name: 'ts-vms-hub-listen' },
    )
    let failed = false
    const fail = (err: unknown) => {
      if (failed) return
      failed = true
      if (this.client === client) this.client = undefined
      client.removeAllListeners('notification')
      client.end().catch(() => {})
      this.o.onDown()
      if (this.closed) return
      this.log.warn(
        { err, retryInMs: this.retryMs },
        'principal-change listener lost its connection; cache off until back',
      )
      this.retryTimer = setTimeout(() => void this.connect(), this.retryMs)
      this.retryMs = Math.min(this.retryMs * 2, this.o.retryMaxMs ?? 10_000)
    }
    client.on('error', fail)
    client.on('end', () => fail(new Error('connection ended')))
    client.on('notification', (n) => {
      if (n.channel === PRINCIPAL_CHANGES_CHANNEL) this.o.onChange(n.payload ?? '*')
    })
    try {
      await client.connect()
      await client.query(`LISTEN ${PRINCIPAL_CHANGES_CHANNEL}`)
    } catch (err) {
      fail(err)
      return
    }
    if (this.closed) {
      await client.end().catch(() => {})
      return
    }
    this.client = client
    this.retryMs = this.o.retryMinMs ?? 250
    this.o.onUp()
  }

  /** The listening session's backend pid (tests end it to simulate a lost connection). */
  async backendPid(): Promise<number | undefined> {
    const res = await this.client?.query<{ pid: number }>('select pg_backend_pid() as pid')
    return res?.rows[0]?.pid
  }

  get connected(): boolean {
    return this.client !== undefined
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.retryTimer)
    const client = this.client
    this.client = undefined
    client?.removeAllListeners()
    client?.on('error', () => {})
    await client?.end().catch(() => {})
  }
}

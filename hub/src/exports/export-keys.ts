import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
} from 'node:crypto'
import type Router from '@koa/router'
import type { SecretBox } from '@ts-vms/shared'
import { calculateJwkThumbprint, type JWK } from 'jose'
import type { Logger } from 'pino'
import type { Database } from '../db/database.ts'
import type { HubContext } from '../hub-context.ts'
import { type ExportPublicKey, rawPublicKey } from './export-manifest.ts'

/**
 * The hub's export-signing keys (issue 16), apart from the access-token keys (auth/signing-keys.ts)
 * so that rotating those never touches an export: an export key, once it has signed, is kept and
 * published forever. Stored in `export_signing_keys` with the private half sealed by the master
 * key; the newest key signs. Also the hub's installation id (`hub_installation`), generated once.
 */
interface LoadedKey {
  keyId: string
  privateKey: KeyObject
  publicKey: string
  createdAt: Date
}

interface KeyRow {
  key_id: string
  public_key: string
  private_key_sealed: string
  created_at: Date
}

const sealContext = (keyId: string) => `export-signing-key:${keyId}`

/**
 * How long a hub signs with the keys it loaded before looking again: a key added by
 * `rotate-export-key` (another process) is taken up by every running hub within this.
 */
const RELOAD_MS = 60_000

export class ExportKeyStore {
  private keys: LoadedKey[] = []
  private installation: string | undefined
  private loading: Promise<void> | undefined
  private loadedAt = 0

  constructor(
    private readonly db: Database,
    private readonly box: SecretBox,
    private readonly logger?: Logger,
  ) {}

  /** Creates the first key and the hub id when missing (once, across instances), then loads. */
  private async ensure(): Promise<void> {
    if (this.keys.length > 0 && this.installation && Date.now() - this.loadedAt < RELOAD_MS) return
    this.loading ??= this.load().finally(() => {
      this.loading = undefined
    })
    return this.loading
  }

  private async load(): Promise<void> {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    const keyId = await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK, 'sha256')
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' })
    const { rows, hubId } = await this.db.withSystem(async (tx) => {
      await tx.execute(`select pg_advisory_xact_lock(hashtext('vms.export_signing_keys'))`)
      const existing: { hub_id: string }[] = await tx.execute('select hub_id from hub_installation')
      let hubId = existing[0]?.hub_id
      if (!hubId) {
        hubId = randomUUID()
        await tx.execute('insert into hub_installation (hub_id) values (?)', [hubId])
      }
      let rows: KeyRow[] = await tx.execute('select * from export_signing_keys order by created_at asc')
      if (rows.length === 0) {
        await tx.execute(
          'insert into export_signing_keys (key_id, public_key, private_key_sealed) values (?, ?, ?)',
          [keyId, rawPublicKey(publicKey), this.box.seal(pkcs8, sealContext(keyId))],
        )
        this.logger?.info({ keyId }, 'generated the first export-signing key')
        rows = await tx.execute('select * from export_signing_keys order by created_at asc')
      }
      return { rows, hubId }
    })
    this.installation = hubId
    this.loadedAt = Date.now()
    this.keys = rows.map((row) => {
      const der = this.box.open(row.private_key_sealed, sealContext(row.key_id))
      const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
      return {
        keyId: row.key_id,
        privateKey: key,
        publicKey: rawPublicKey(createPublicKey(key)),
        createdAt: new Date(row.created_at),
      }
    })
  }

  /**
   * Adds a new export-signing key, which signs from now on (within a minute on every running hub).
   * The old keys stay published forever: what they signed keeps verifying. For a key that may have
   * leaked, rotate, then tell whoever verifies which key id to distrust from when.
   */
  async rotate(): Promise<string> {
    await this.ensure()
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    const keyId = await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK, 'sha256')
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' })
    await this.db.withSystem(async (tx) => {
      await tx.execute(`select pg_advisory_xact_lock(hashtext('vms.export_signing_keys'))`)
      await tx.execute(
        'insert into export_signing_keys (key_id, public_key, private_key_sealed) values (?, ?, ?)',
        [keyId, rawPublicKey(publicKey), this.box.seal(pkcs8, sealContext(keyId))],
      )
    })
    this.loadedAt = 0
    await this.ensure()
    this.logger?.info({ keyId }, 'added an export-signing key; it signs new exports from now on')
    return keyId
  }

  /** This hub installation's stable id. */
  async hubId(): Promise<string> {
    await this.ensure()
    return this.installation as string
  }

  /** The newest key: it signs new exports. */
  async signingKey(): Promise<{ keyId: string; privateKey: KeyObject }> {
    await this.ensure()
    const newest = this.keys.at(-1)
    if (!newest) throw new Error('no export-signing key')
    return { keyId: newest.keyId, privateKey: newest.privateKey }
  }

  /**
   * Every export key ever created, public halves only, read from the database each time: a key
   * another hub (or `rotate-export-key`) added is published at once.
   */
  async publicKeys(): Promise<{ keys: ExportPublicKey[] }> {
    await this.ensure()
    const rows: { key_id: string; public_key: string; created_at: Date }[] = await this.db.withSystem((tx) =>
      tx.execute('select key_id, public_key, created_at from export_signing_keys order by created_at asc'),
    )
    return {
      keys: rows.map((k) => ({
        keyId: k.key_id,
        publicKey: k.public_key,
        createdAt: new Date(k.created_at).toISOString(),
      })),
    }
  }
}

const stores = new WeakMap<HubContext, ExportKeyStore>()

/** The export key store of a running hub (one per hub context, created on first use). */
export function exportKeysOf(hub: HubContext): ExportKeyStore {
  let store = stores.get(hub)
  if (!store) {
    store = new ExportKeyStore(hub.db, hub.secrets, hub.logger)
    stores.set(hub, store)
  }
  return store
}

/**
 * `GET /.well-known/export-keys.json`: anonymous, like the JWKS: public keys only, every export key
 * ever used, so that a manifest signed years ago still verifies.
 */
export function registerExportKeyRoutes(router: Router, hub: HubContext): void {
  router.get('/.well-known/export-keys.json', async (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=300')
    ctx.body = await exportKeysOf(hub).publicKeys()
  })
}

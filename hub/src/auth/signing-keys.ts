import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { SecretBox } from '@ts-vms/shared'
import { calculateJwkThumbprint, type JWK } from 'jose'
import type { Logger } from 'pino'
import type { Database, Tx } from '../db/database.ts'
import { type SigningKey, SigningKeySchema } from '../db/entities.ts'

/**
 * Ed25519 keys that sign access tokens. Generated at first start, stored in the database with the
 * private half sealed by the master key, and rotatable: the newest unretired key signs; a retired
 * key stays published (and verifying) until every token it signed has expired.
 *
 * Several hub instances share the table. Each caches it and reloads periodically and whenever a
 * token names a kid it has not seen (throttled), so a rotation on one instance reaches the others
 * without a restart.
 */
export interface SigningKeyStoreOptions {
  /** Access-token lifetime: how long a retired key must keep verifying. */
  tokenTtlSeconds: number
  refreshSeconds: number
  logger: Logger
}

interface LoadedKey {
  kid: string
  publicKey: KeyObject
  publicJwk: JWK
  privateKey: KeyObject
  createdAt: Date
  retiredAt: Date | null
}

const CLOCK_SKEW_SECONDS = 60
const UNKNOWN_KID_RELOAD_MS = 5_000

function sealContext(kid: string) {
  return `signing-key:${kid}`
}

async function newKeyRow(box: SecretBox): Promise<SigningKey> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const jwk = publicKey.export({ format: 'jwk' }) as JWK
  const kid = await calculateJwkThumbprint(jwk, 'sha256')
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' })
  return {
    kid,
    alg: 'EdDSA',
    publicJwk: { ...jwk, kid, alg: 'EdDSA', use: 'sig' },
    privateKeySealed: box.seal(pkcs8, sealContext(kid)),
    createdAt: new Date(),
    retiredAt: null,
  }
}

export class SigningKeyStore {
  private keys = new Map<string, LoadedKey>()
  private loadedAt = 0
  private lastUnknownReload = 0
  private loading: Promise<void> | undefined

  constructor(
    private readonly db: Database,
    private readonly box: SecretBox,
    private readonly options: SigningKeyStoreOptions,
  ) {}

  /** Makes sure a signing key exists (first start) and loads the table. */
  async init(): Promise<void> {
    const row = await newKeyRow(this.box)
    await this.db.withSystem(async (tx) => {
      await tx.execute(`select pg_advisory_xact_lock(hashtext('vms.signing_keys'))`)
      const active = await tx.count(SigningKeySchema, { retiredAt: null })
      if (active === 0) {
        tx.create(SigningKeySchema, row)
        this.options.logger.info({ kid: row.kid }, 'generated the first access-token signing key')
      }
    })
    await this.reload()
  }

  /** Adds a new signing key and retires the previous ones. Returns the new kid. */
  async rotate(): Promise<string> {
    const row = await newKeyRow(this.box)
    await this.db.withSystem(async (tx) => {
      await tx.execute(`select pg_advisory_xact_lock(hashtext('vms.signing_keys'))`)
      await tx.nativeUpdate(SigningKeySchema, { retiredAt: null }, { retiredAt: new Date() })
      tx.create(SigningKeySchema, row)
    })
    await this.reload()
    this.options.logger.info({ kid: row.kid }, 'rotated the access-token signing key')
    return row.kid
  }

  private reload(): Promise<void> {
    this.loading ??= this.db
      .withSystem((tx: Tx) => tx.find(SigningKeySchema, {}, { orderBy: { createdAt: 'asc' } }))
      .then((rows) => {
        const keys = new Map<string, LoadedKey>()
        for (const row of rows) {
          const der = this.box.open(row.privateKeySealed, sealContext(row.kid))
          const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
          keys.set(row.kid, {
            kid: row.kid,
            privateKey,
            publicKey: createPublicKey(privateKey),
            publicJwk: row.publicJwk as JWK,
            createdAt: row.createdAt,
            retiredAt: row.retiredAt,
          })
        }
        this.keys = keys
        this.loadedAt = Date.now()
      })
      .finally(() => {
        this.loading = undefined
      })
    return this.loading
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt > this.options.refreshSeconds * 1000) {
      try {
        await this.reload()
      } catch (err) {
        // Keep signing and verifying with what we have while the database is unreachable.
        this.options.logger.warn({ err }, 'could not refresh signing keys')
      }
    }
  }

  private isPublished(key: LoadedKey, now = Date.now()): boolean {
    if (!key.retiredAt) return true
    const graceMs = (this.options.tokenTtlSeconds + CLOCK_SKEW_SECONDS) * 1000
    return key.retiredAt.getTime() + graceMs > now
  }

  async signingKey(): Promise<{ kid: string; privateKey: KeyObject }> {
    await this.fresh()
    let newest: LoadedKey | undefined
    for (const key of this.keys.values()) {
      if (!key.retiredAt && (!newest || key.createdAt > newest.createdAt)) newest = key
    }
    if (!newest) throw new Error('no active signing key: the hub was not initialised')
    return { kid: newest.kid, privateKey: newest.privateKey }
  }

  /** The public key for a kid, or undefined when the kid is unknown or long retired. */
  async verificationKey(kid: string): Promise<KeyObject | undefined> {
    await this.fresh()
    let key = this.keys.get(kid)
    if (!key && Date.now() - this.lastUnknownReload > UNKNOWN_KID_RELOAD_MS) {
      this.lastUnknownReload = Date.now()
      try {
        await this.reload()
      } catch (err) {
        this.options.logger.warn({ err }, 'could not reload signing keys for an unknown kid')
      }
      key = this.keys.get(kid)
    }
    return key && this.isPublished(key) ? key.publicKey : undefined
  }

  /**
   * The public key for a kid however long ago it retired: signatures that must outlive tokens
   * (audit checkpoints) are verified with it. Keys are never deleted from the table.
   */
  async historicKey(kid: string): Promise<KeyObject | undefined> {
    if (!this.keys.has(kid)) await this.reload()
    return this.keys.get(kid)?.publicKey
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh()
    const now = Date.now()
    return {
      keys: [...this.keys.values()].filter((k) => this.isPublished(k, now)).map((k) => k.publicJwk),
    }
  }
}

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/**
 * Authenticated encryption of secrets at rest (the hub's signing keys and camera passwords; the
 * agent's camera passwords under its own configuration key):
 * AES-256-GCM with a random 96-bit nonce. The context string is bound as associated data, so a
 * ciphertext copied into another row or column fails to decrypt instead of yielding a wrong secret.
 *
 * Format (base64 of): version byte 1 | 12-byte nonce | 16-byte tag | ciphertext.
 */
const VERSION = 1
const NONCE_BYTES = 12
const TAG_BYTES = 16

export class SecretBoxError extends Error {
  override name = 'SecretBoxError'
}

export class SecretBox {
  readonly #key: Buffer

  constructor(key: Buffer) {
    if (key.length !== 32) throw new SecretBoxError('the master key must be exactly 32 bytes')
    this.#key = Buffer.from(key)
  }

  /**
   * A key for one purpose, derived from this one (HKDF-SHA256), e.g. an agent's configuration key:
   * the hub recomputes it when needed instead of storing it.
   */
  deriveKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.from('ts-vms secret-box'), purpose, 32))
  }

  seal(plaintext: Buffer | string, context: string): string {
    const nonce = randomBytes(NONCE_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce)
    cipher.setAAD(Buffer.from(context, 'utf8'))
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
    return Buffer.concat([Buffer.from([VERSION]), nonce, cipher.getAuthTag(), body]).toString('base64')
  }

  open(sealed: string, context: string): Buffer {
    const raw = Buffer.from(sealed, 'base64')
    if (raw.length < 1 + NONCE_BYTES + TAG_BYTES || raw[0] !== VERSION) {
      throw new SecretBoxError('sealed secret has an unknown format')
    }
    const nonce = raw.subarray(1, 1 + NONCE_BYTES)
    const tag = raw.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES)
    const body = raw.subarray(1 + NONCE_BYTES + TAG_BYTES)
    const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce)
    decipher.setAAD(Buffer.from(context, 'utf8'))
    decipher.setAuthTag(tag)
    try {
      return Buffer.concat([decipher.update(body), decipher.final()])
    } catch {
      throw new SecretBoxError('sealed secret does not open with this master key (or was moved)')
    }
  }
}

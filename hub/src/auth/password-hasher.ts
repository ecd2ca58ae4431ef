import { randomBytes } from 'node:crypto'
import argon2 from 'argon2'

export interface Argon2Params {
  memoryKiB: number
  timeCost: number
  parallelism: number
}

/**
 * Argon2id password hashing. Parameters come from configuration (never below OWASP's minimum); a
 * hash made with other parameters verifies, and `needsRehash` tells the caller to upgrade it after
 * a successful login.
 */
export class PasswordHasher {
  #dummyHash: Promise<string> | undefined

  constructor(private readonly params: Argon2Params) {}

  private get options() {
    return {
      type: argon2.argon2id,
      memoryCost: this.params.memoryKiB,
      timeCost: this.params.timeCost,
      parallelism: this.params.parallelism,
    } as const
  }

  hash(password: string): Promise<string> {
    return argon2.hash(password, this.options)
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, password)
    } catch {
      return false // a malformed stored hash never matches
    }
  }

  needsRehash(hash: string): boolean {
    try {
      return argon2.needsRehash(hash, {
        memoryCost: this.params.memoryKiB,
        timeCost: this.params.timeCost,
        parallelism: this.params.parallelism,
      })
    } catch {
      return true
    }
  }

  /**
   * Spends the same work as verifying a real password, for logins of unknown users, so response
   * time does not tell which usernames exist.
   */
  async verifyDummy(password: string): Promise<false> {
    this.#dummyHash ??= this.hash(randomBytes(32).toString('base64url'))
    await this.verify(await this.#dummyHash, password)
    return false
  }
}

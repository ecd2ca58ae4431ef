import { randomUUID } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { z } from 'zod'
import type { SigningKeyStore } from './signing-keys.ts'

/**
 * Access tokens: JWTs signed with EdDSA (Ed25519), typed `at+jwt` (RFC 9068) so no other JWT the
 * hub signs can be replayed as one. Verification pins the algorithm, type, issuer and audience and
 * resolves the key by kid from the hub's own key store only (never from the token).
 */
export interface AccessTokenOptions {
  issuer: string
  audience: string
  ttlSeconds: number
}

export interface AccessTokenSubject {
  userId: string
  tenantId: string
  /** The user's session version at issue time; bumping it invalidates the token. */
  sessionVersion: number
}

const claimsSchema = z.object({
  sub: z.uuid(),
  tid: z.uuid(),
  jti: z.string().min(1),
  sv: z.number().int().nonnegative(),
  iat: z.number(),
  exp: z.number(),
})

export type AccessTokenClaims = z.infer<typeof claimsSchema>

export class InvalidAccessToken extends Error {
  override name = 'InvalidAccessToken'
}

const TOKEN_TYPE = 'at+jwt'

export class AccessTokens {
  constructor(
    private readonly keys: SigningKeyStore,
    readonly options: AccessTokenOptions,
  ) {}

  async issue(subject: AccessTokenSubject): Promise<{ token: string; expiresIn: number }> {
    const { kid, privateKey } = await this.keys.signingKey()
    const token = await new SignJWT({ tid: subject.tenantId, sv: subject.sessionVersion })
      .setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPE, kid })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(subject.userId)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${this.options.ttlSeconds}s`)
      .sign(privateKey)
    return { token, expiresIn: this.options.ttlSeconds }
  }

  async verify(token: string): Promise<AccessTokenClaims> {
    try {
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          if (header.alg !== 'EdDSA' || typeof header.kid !== 'string') {
            throw new InvalidAccessToken('unexpected token header')
          }
          const key = await this.keys.verificationKey(header.kid)
          if (!key) throw new InvalidAccessToken('unknown signing key')
          return key
        },
        {
          algorithms: ['EdDSA'],
          typ: TOKEN_TYPE,
          issuer: this.options.issuer,
          audience: this.options.audience,
          requiredClaims: ['sub', 'jti', 'iat', 'exp'],
        },
      )
      const claims = claimsSchema.safeParse(payload)
      if (!claims.success) throw new InvalidAccessToken('malformed claims')
      return claims.data
    } catch (err) {
      if (err instanceof InvalidAccessToken) throw err
      if (err instanceof joseErrors.JOSEError || err instanceof TypeError || err instanceof SyntaxError) {
        throw new InvalidAccessToken(err instanceof joseErrors.JWTExpired ? 'token expired' : 'invalid token')
      }
      throw err
    }
  }
}

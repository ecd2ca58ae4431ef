import type { Tx } from '../db/database.ts'

/**
 * Ends every session of a user: revokes all refresh-token families and bumps the session version,
 * which invalidates access tokens issued before (they carry the version they were issued with).
 */
export async function revokeAllSessions(tx: Tx, userId: string, reason: string): Promise<void> {
  await tx.execute(
    `update refresh_tokens set revoked_at = now(), revoked_reason = ?
      where user_id = ? and revoked_at is null`,
    [reason, userId],
  )
  await tx.execute(
    `update users set session_version = session_version + 1, updated_at = now() where id = ?`,
    [userId],
  )
}

export async function revokeFamily(tx: Tx, familyId: string, reason: string): Promise<number> {
  const rows: { id: string }[] = await tx.execute(
    `update refresh_tokens set revoked_at = now(), revoked_reason = ?
      where family_id = ? and revoked_at is null returning id`,
    [reason, familyId],
  )
  return rows.length
}

/** Ends a user's pending password-reset links (their password or e-mail address changed). */
export async function revokePasswordResets(tx: Tx, userId: string): Promise<void> {
  await tx.execute('delete from password_reset_tokens where user_id = ? and used_at is null', [userId])
}

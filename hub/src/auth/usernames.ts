/**
 * One canonical form of a username, for everything that decides "is this the same account?":
 * the login lookup, the per-account login limit and uniqueness at creation.
 *
 * NFKC first, so compatibility look-alikes are the same name (the Kelvin sign U+212A is K, fullwidth
 * ａｄｍｉｎ is admin), then a locale-independent case fold (upper then lower case, which folds ß
 * to ss and final sigma to sigma the way Unicode case folding does), then NFKC again. Turkish
 * dotted capital İ (U+0130) folds to "i" + combining dot above, NOT to plain "i": `adm\u0130n`
 * is a different name from `admin`. The database's `lower()` depends on its locale (C.UTF-8 and
 * PGlite map İ to i), so it only narrows the candidates; the decision is always this function.
 */
export function canonicalUsername(name: string): string {
  return name.trim().normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC')
}

/** The form a username is stored and shown in: NFKC (case kept), so it is what people type. */
export function storedUsername(name: string): string {
  return name.trim().normalize('NFKC')
}

/** The characters a stored username may hold (checked again after NFKC, which can add some). */
export const USERNAME_PATTERN = /^[\p{L}\p{N}._@+-]{1,100}$/u

/**
 * E-mail addresses are matched the same way (the reset lookup and its per-address limit), so a
 * look-alike address cannot reach an account by the database's locale while counting elsewhere.
 */
export const canonicalEmail = canonicalUsername

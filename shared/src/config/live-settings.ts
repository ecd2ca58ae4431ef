import { z } from 'zod'

/** Settings the hub and the agent both take for live view (ICE), parsed the same way. */

/** Comma-separated IP addresses to announce as ICE host candidates besides the interfaces'. */
export const hostAddressesSetting = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.union([z.ipv4(), z.ipv6()])).max(8))

/** UDP ports for ICE, `min-max`. */
export const portRangeSetting = z
  .string()
  .regex(/^\d{1,5}-\d{1,5}$/, 'a range like 50000-50100')
  .transform((v) => v.split('-').map(Number) as [number, number])
  .refine(([a, b]) => a >= 1024 && a <= b && b <= 65535, 'ports 1024-65535, low to high')

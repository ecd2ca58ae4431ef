import { z } from 'zod'

/** A camera's stream: `main` (full resolution, recorded) or `sub` (small, for grids and analytics). */
export const streamRole = z.enum(['main', 'sub'])
export type StreamRole = z.infer<typeof streamRole>

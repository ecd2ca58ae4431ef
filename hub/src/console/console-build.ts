import { existsSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ViteApp, type ViteAppBuild } from '@ts-vms/shared/build'

/**
 * The web console is a React + Vite app in hub/console, built by the hub itself once per source
 * change (shared/src/build/vite-app.ts says how, and why a rename puts it in place).
 */
export const CONSOLE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../console')
export const CONSOLE_DIST = path.join(CONSOLE_DIR, 'dist')
const app = new ViteApp({
  dir: CONSOLE_DIR,
  bundled: ['vite', '@vitejs/plugin-react', 'react', 'react-dom', 'react-router', 'hls.js'],
  name: 'the web console',
})

export type ConsoleBuild = ViteAppBuild

/** Builds the console unless the existing build matches the sources. */
export const ensureConsoleBuilt = (log?: (msg: string) => void): Promise<ConsoleBuild> => app.ensureBuilt(log)

/** Total bytes of the built files a first load fetches (for the bench), by extension. */
export function builtAssets(dist = CONSOLE_DIST): { file: string; bytes: number }[] {
  const dir = path.join(dist, 'assets')
  if (!existsSync(dir)) return []
  return readdirSync(dir).map((f) => ({ file: path.join(dir, f), bytes: statSync(path.join(dir, f)).size }))
}

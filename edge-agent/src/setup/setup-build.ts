import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ViteApp, type ViteAppBuild } from '@ts-vms/shared/build'

/**
 * The setup wizard's page: a small React + Vite app in edge-agent/setup-ui, built the way the hub
 * builds its console (shared/src/build/vite-app.ts: once per source change, moved into place with
 * one rename).
 */
export const SETUP_UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../setup-ui')
const app = new ViteApp({
  dir: SETUP_UI_DIR,
  bundled: ['vite', '@vitejs/plugin-react', 'react', 'react-dom'],
  name: 'the setup wizard page',
})
export const SETUP_UI_DIST = app.dist

export type SetupUiBuild = ViteAppBuild

/** Builds the wizard's page unless the existing build matches the sources. */
export const ensureSetupUiBuilt = (log?: (msg: string) => void): Promise<SetupUiBuild> => app.ensureBuilt(log)

import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

/**
 * The agent's setup wizard page. The agent builds it itself (edge-agent/src/setup/setup-build.ts)
 * and serves it under a CSP that allows no inline script: content-hashed file names, no inlined
 * assets, no module-preload polyfill (an inline script).
 */
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    sourcemap: false,
  },
})

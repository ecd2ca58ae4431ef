import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

/**
 * The web console's build. The hub builds it itself (hub/src/console/console-build.ts); for
 * development, `npx vite hub/console` serves it with hot reload and sends API calls to a hub on
 * VMS_HUB_URL (default http://127.0.0.1:8080).
 */
const hub = process.env.VMS_HUB_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    // Content-hashed names (the default), no inline scripts (the CSP forbids them).
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
  },
  server: { proxy: { '/api': { target: hub, changeOrigin: false } } },
})

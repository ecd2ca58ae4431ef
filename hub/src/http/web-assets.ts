import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type Router from '@koa/router'
import { build } from 'esbuild'
import { notFound } from './errors.ts'

/**
 * The live diagnostics page (one camera, its WebRTC statistics: first frame, jitter buffer, RTT,
 * losses), served by the hub itself beside the console. The browser code is TypeScript in
 * hub/web/src, bundled by esbuild on first request and kept in memory. It holds no data;
 * everything it shows comes from the authenticated API. The console is served by
 * console-assets.ts.
 */
const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web')

/** Entry points a page may load; anything else is 404. */
const SCRIPTS = new Set(['live-page'])
const STATIC: Record<string, { file: string; type: string }> = {
  '/diagnostics/live': { file: 'live.html', type: 'text/html; charset=utf-8' },
  '/web/live.css': { file: 'live.css', type: 'text/css; charset=utf-8' },
}

export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

export function registerWebAssets(router: Router): void {
  const bundles = new Map<string, Promise<string>>()
  const bundle = (name: string) => {
    let out = bundles.get(name)
    if (!out) {
      out = build({
        entryPoints: [path.join(WEB_DIR, 'src', `${name}.ts`)],
        bundle: true,
        format: 'esm',
        target: 'es2022',
        write: false,
        sourcemap: false,
        logLevel: 'silent',
      }).then((r) => r.outputFiles[0]?.text ?? '')
      // A failed build is not cached: the next request tries again.
      out.catch(() => bundles.delete(name))
      bundles.set(name, out)
    }
    return out
  }

  for (const [route, asset] of Object.entries(STATIC)) {
    router.get(route, (ctx) => {
      ctx.type = asset.type
      if (asset.type.startsWith('text/html')) ctx.set('Content-Security-Policy', PAGE_CSP)
      ctx.body = readFileSync(path.join(WEB_DIR, asset.file))
    })
  }
  router.get('/web/:name.js', async (ctx) => {
    const name = ctx.params.name ?? ''
    if (!SCRIPTS.has(name)) throw notFound('script')
    ctx.type = 'text/javascript; charset=utf-8'
    ctx.body = await bundle(name)
  })
}

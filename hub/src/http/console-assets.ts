import { existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import type { Middleware } from 'koa'
import { CONSOLE_DIST } from '../console/console-build.ts'
import { HttpError, notFound } from './errors.ts'
import { PAGE_CSP } from './web-assets.ts'

/**
 * Serves the built web console (hub/console, see console/console-build.ts): the page for every
 * console route, so deep links survive a reload, and the content-hashed assets, cached for a year
 * because their names change with their content. The page itself is never cached and carries the
 * strict CSP: scripts, styles, media and connections only from the hub itself.
 */
/** Console routes (the app's own router takes it from there); everything else passes by. */
const PAGE = /^\/(?:|sign-in|live|playback|events|health|alarms|cases|admin)(?:\/[^\0]*)?$/
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
}
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/

export function consoleMiddleware(dist = CONSOLE_DIST): Middleware {
  let page: { mtimeMs: number; body: Buffer } | undefined
  const indexHtml = (): Buffer => {
    const file = path.join(dist, 'index.html')
    let mtimeMs: number
    try {
      mtimeMs = statSync(file).mtimeMs
    } catch {
      throw new HttpError(
        503,
        'console_not_built',
        'the web console is not built yet: start the hub with npm start',
      )
    }
    if (page?.mtimeMs !== mtimeMs) page = { mtimeMs, body: readFileSync(file) }
    return page.body
  }
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next()
    if (ctx.path.startsWith('/assets/')) {
      const name = ctx.path.slice('/assets/'.length)
      const type = TYPES[path.extname(name)]
      const file = path.join(dist, 'assets', name)
      if (!ASSET_NAME.test(name) || !type || !existsSync(file)) throw notFound('asset')
      ctx.type = type
      ctx.set('Cache-Control', 'public, max-age=31536000, immutable')
      ctx.body = readFileSync(file)
      return
    }
    if (!PAGE.test(ctx.path)) return next()
    ctx.type = 'text/html; charset=utf-8'
    ctx.set('Content-Security-Policy', PAGE_CSP)
    ctx.set('Cache-Control', 'no-cache')
    ctx.body = indexHtml()
  }
}

import { Redis } from 'ioredis'
import type { Logger } from 'pino'

/**
 * A Redis client that fails fast instead of queueing: while Redis is down, commands reject at once
 * (and callers fall back), and the client keeps reconnecting in the background.
 */
export function connectRedis(url: string, logger: Logger): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1000,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(200 * attempt, 2000),
  })
  let lastError = ''
  client.on('error', (err: Error) => {
    // ioredis repeats the same error on every reconnect attempt; log each new one once.
    if (err.message !== lastError) logger.warn({ err: err.message }, 'Redis connection error')
    lastError = err.message
  })
  client.on('ready', () => {
    lastError = ''
    logger.info('connected to Redis')
  })
  return client
}

/** Resolves when the client is ready, or after `ms` (the hub then starts degraded and keeps trying). */
export function untilReady(client: Redis, ms: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady)
      resolve(false)
    }, ms)
    const onReady = () => {
      clearTimeout(timer)
      resolve(true)
    }
    client.once('ready', onReady)
  })
}

/**
 * The hub of `npm run bench -- fleet`, in a process of its own (forked by fleet.ts) so that its CPU
 * and memory are its own, not the simulated agents'. Configured by the environment (VMS_*); tells
 * its parent its URL, and answers `sample` with its CPU time and memory (the heap after a full
 * collection), `close` by stopping.
 */
import { loadConfig } from '../../hub/src/config/config.ts'
import { createLogger } from '../../hub/src/observability/logger.ts'
import { startHub } from '../../hub/src/server.ts'

export type FleetHubRequest = { type: 'sample' } | { type: 'close' }
export type FleetHubReply =
  | { type: 'ready'; url: string }
  | { type: 'sample'; cpuMicros: number; rssBytes: number; heapUsedBytes: number; at: number }
  | { type: 'closed' }

const send = (m: FleetHubReply) => process.send?.(m)

const hub = await startHub({ config: loadConfig(process.env), logger: createLogger('warn') })
send({ type: 'ready', url: hub.url })
process.on('message', (m: FleetHubRequest) => {
  if (m.type === 'sample') {
    const cpu = process.cpuUsage()
    // After a full collection (the parent starts this process with --expose-gc): what is left is
    // what the hub holds, so a trend in it is a leak, not garbage not yet collected.
    ;(globalThis as { gc?: () => void }).gc?.()
    const mem = process.memoryUsage()
    send({
      type: 'sample',
      cpuMicros: cpu.user + cpu.system,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      at: performance.now() + performance.timeOrigin,
    })
  }
  if (m.type === 'close')
    void hub.close().finally(() => {
      send({ type: 'closed' })
      process.disconnect?.()
      process.exit(0)
    })
})

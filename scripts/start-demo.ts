/**
 * `npm start`: the whole system on embedded defaults, for a first look and for development.
 * Today that is the hub (embedded PostgreSQL in ./data/hub, in-memory limits); the demo agent and
 * simulated cameras join here as they land.
 */

import { serveHub } from '../hub/src/cli/serve.ts'
import { ConfigError, loadConfig } from '../hub/src/config/config.ts'

try {
  await serveHub(loadConfig())
} catch (err) {
  console.error(
    err instanceof ConfigError
      ? err.message
      : `start failed: ${err instanceof Error ? err.message : String(err)}`,
  )
  process.exit(1)
}

// The detector thread's entry: plain JavaScript, so it loads without a TypeScript loader, then
// registers tsx (as the agent's own start does) and runs the TypeScript worker.
import { register } from 'tsx/esm/api'

register()
await import('./detector-worker.ts')

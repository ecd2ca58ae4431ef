import path from 'node:path'
import type { HubContext } from '../hub-context.ts'
import { CaseCollector } from './case-collector.ts'
import { CaseFiles } from './case-files.ts'

/** A running hub's cases: where their files live and who collects them (one per hub context). */
export interface Cases {
  files: CaseFiles
  collector: CaseCollector
}

const services = new WeakMap<HubContext, Cases>()

export function casesOf(hub: HubContext): Cases {
  let cases = services.get(hub)
  if (!cases) {
    const files = new CaseFiles(path.join(hub.config.VMS_DATA_DIR, 'cases'))
    cases = { files, collector: new CaseCollector(hub, files) }
    services.set(hub, cases)
  }
  return cases
}

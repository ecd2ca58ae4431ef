import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

/**
 * The hub's layering (docs/architecture.md, "Errors and layers"): http/ depends on the domain,
 * never the other way round. Domain modules raise DomainError (errors.ts) and http/ maps it to a
 * status; only the composition root, which wires the HTTP app into the server, may import http/.
 */
const SRC = path.dirname(fileURLToPath(import.meta.url))
const HTTP = path.join(SRC, 'http')
const MAY_IMPORT_HTTP = new Set([path.join(SRC, 'server.ts')])

interface Import {
  specifier: string
  line: number
}

/** Every module a source file names: imports, `import type`, re-exports, dynamic imports. */
function importsOf(text: string): Import[] {
  const { importedFiles } = ts.preProcessFile(text, true, true)
  return importedFiles.map((f) => ({
    specifier: f.fileName,
    line: text.slice(0, f.pos).split('\n').length,
  }))
}

const inside = (dir: string, file: string) => file === dir || file.startsWith(dir + path.sep)

/** The imports of `file` that resolve into `httpDir`, as `file:line imports 'specifier'`. */
function upwardImports(file: string, text: string, httpDir = HTTP): string[] {
  return importsOf(text)
    .filter(({ specifier }) => specifier.startsWith('.') || path.isAbsolute(specifier))
    .filter(({ specifier }) => inside(httpDir, path.resolve(path.dirname(file), specifier)))
    .map(({ specifier, line }) => `${path.relative(SRC, file)}:${line} imports '${specifier}'`)
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name)
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sourceFiles(full)
    return /\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name) ? [full] : []
  })
}

describe('upwardImports', () => {
  const at = (rel: string) => path.join(SRC, rel)

  it('catches every relative form that lands in http/', () => {
    expect(upwardImports(at('live/a.ts'), "import { x } from '../http/x.ts'")).toEqual([
      "live/a.ts:1 imports '../http/x.ts'",
    ])
    expect(upwardImports(at('cameras/deep/b.ts'), "import { y } from '../../http/routes/y.ts'")).toHaveLength(
      1,
    )
    expect(upwardImports(at('c.ts'), "import { app } from './http/app.ts'")).toHaveLength(1)
    expect(upwardImports(at('live/d.ts'), "import { z } from '../live/../http/z.ts'")).toHaveLength(1)
  })

  it('catches type imports, re-exports, multi-line, side-effect and dynamic imports', () => {
    const text = [
      "import type { T } from '../http/t.ts'",
      "export { u } from '../http/u.ts'",
      'import {',
      '  v,',
      "} from '../http/v.ts'",
      "import '../http/w.ts'",
      "const m = await import('../http/m.ts')",
    ].join('\n')
    expect(upwardImports(at('rbac/e.ts'), text)).toEqual([
      "rbac/e.ts:1 imports '../http/t.ts'",
      "rbac/e.ts:2 imports '../http/u.ts'",
      "rbac/e.ts:5 imports '../http/v.ts'",
      "rbac/e.ts:6 imports '../http/w.ts'",
      "rbac/e.ts:7 imports '../http/m.ts'",
    ])
  })

  it('lets through what does not land in http/', () => {
    const text = [
      "import { a } from '../errors.ts'",
      "import { b } from '../httpish/b.ts'",
      "import { c } from './http-client.ts'",
      "import http from 'node:http'",
      "// a comment naming import { d } from '../http/d.ts'",
      'const s = "from \'../http/s.ts\'"',
    ].join('\n')
    expect(upwardImports(at('live/f.ts'), text)).toEqual([])
  })
})

describe('hub layers', () => {
  it('no module outside http/ (but the composition root) imports from http/', () => {
    const files = sourceFiles(SRC).filter((f) => !inside(HTTP, f) && !MAY_IMPORT_HTTP.has(f))
    // The walk found the hub's modules (a wrong root would pass vacuously).
    expect(files).toContain(path.join(SRC, 'errors.ts'))
    expect(files.length).toBeGreaterThan(50)
    const upward = files.flatMap((f) => upwardImports(f, readFileSync(f, 'utf8')))
    expect(upward, 'domain modules raise DomainError (hub/src/errors.ts) instead').toEqual([])
  })
})

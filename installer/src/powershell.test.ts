import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { beforeAll, describe, expect, it } from 'vitest'
import { Language, type Node, Parser } from 'web-tree-sitter'
import { FIREWALL_ACTIONS } from './firewall.ts'
import { COMPONENT_CHOICES, SERVICE_ACTIONS } from './windows-plan.ts'

/**
 * Every .ps1 under installer/windows parsed with the PowerShell grammar (tree-sitter-powershell's
 * WebAssembly build, through web-tree-sitter): no ERROR or MISSING node. There is no PowerShell
 * here, so this is the syntax check; what the scripts run is the plans' golden files.
 */
const windowsDir = new URL('../windows/', import.meta.url)
const scripts = readdirSync(windowsDir).filter((f) => f.endsWith('.ps1'))
const source = (f: string) => readFileSync(new URL(f, windowsDir), 'utf8')

let parser: Parser

beforeAll(async () => {
  const require = createRequire(import.meta.url)
  await Parser.init()
  const language = await Language.load(require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm'))
  parser = new Parser()
  parser.setLanguage(language)
})

function problems(node: Node, out: string[] = []): string[] {
  if (node.isError || node.isMissing) {
    out.push(
      `${node.isMissing ? 'MISSING' : 'ERROR'} at ${node.startPosition.row + 1}:${node.startPosition.column + 1}`,
    )
  }
  for (const child of node.children) if (child) problems(child, out)
  return out
}

function nodesOfType(node: Node, type: string, out: Node[] = []): Node[] {
  if (node.type === type) out.push(node)
  for (const child of node.children) if (child) nodesOfType(child, type, out)
  return out
}

/** The values of a parameter's ValidateSet attribute, read from the script's source. */
function validateSet(src: string, param: string): string[] {
  const m = new RegExp(`\\[ValidateSet\\(([^)]*)\\)\\]\\s*\\[string\\]\\s*\\$${param}\\b`).exec(src)
  return m?.[1] ? [...m[1].matchAll(/'([^']+)'/g)].map((x) => x[1] ?? '') : []
}

describe('PowerShell scripts', () => {
  it('are the three expected', () => {
    expect(scripts.sort()).toEqual(['firewall-manager.ps1', 'plan-runner.ps1', 'service-manager.ps1'])
  })

  for (const file of scripts) {
    describe(file, () => {
      it('parses without ERROR or MISSING nodes', () => {
        const tree = parser.parse(source(file))
        expect(tree).not.toBeNull()
        expect(problems(tree!.rootNode)).toEqual([])
        expect(tree!.rootNode.hasError).toBe(false)
      })

      it('has no "$name:" in a string (PowerShell reads it as a scope-qualified name)', () => {
        expect(source(file)).not.toMatch(/\$[A-Za-z_]\w*:(?![A-Za-z_{:])/)
      })

      it('never builds commands from strings (no Invoke-Expression, no cmd /c)', () => {
        expect(source(file)).not.toMatch(/Invoke-Expression|\biex\b|cmd(\.exe)?\s+\/c|Start-Process/i)
      })
    })
  }

  it('a broken script is caught (the check is not vacuous)', () => {
    const tree = parser.parse('param([string] $A\nif ($A { Write-Host "x" }\n')
    expect(problems(tree!.rootNode).length).toBeGreaterThan(0)
  })

  it('service-manager.ps1 takes exactly the actions and components the plans know, and asks cli.ts for the plan', () => {
    const src = source('service-manager.ps1')
    expect(validateSet(src, 'Action')).toEqual([...SERVICE_ACTIONS])
    expect(validateSet(src, 'Component')).toEqual([...COMPONENT_CHOICES])
    expect(src).toContain("@('plan', '--platform', 'windows', '--action', $Action, '--component', $Component")
    expect(src).toMatch(/^#Requires -RunAsAdministrator/m)
    const commands = nodesOfType(parser.parse(src)!.rootNode, 'command').map((n) => n.text.split(/\s/)[0])
    expect(commands).toContain('Invoke-TsVmsPlan')
  })

  it('firewall-manager.ps1 takes the firewall actions and -AllowPublic, and asks cli.ts for the plan', () => {
    const src = source('firewall-manager.ps1')
    expect(validateSet(src, 'Action')).toEqual([...FIREWALL_ACTIONS])
    expect(validateSet(src, 'Component')).toEqual([...COMPONENT_CHOICES])
    expect(src).toMatch(/\[switch\]\s*\$AllowPublic/)
    expect(src).toContain("'--allow-public'")
    expect(src).toContain("@('firewall-plan', '--platform', 'windows', '--action', $Action")
  })

  it('plan-runner.ps1 runs node with the plan CLI and handles every step kind', () => {
    const src = source('plan-runner.ps1')
    expect(src).toContain('& node --import tsx $cli @CliArgs')
    for (const kind of ['run', 'cmdlet', 'check-exists', 'check-sha256', 'write-file'])
      expect(src).toContain(`'${kind}' {`)
    // Programs and cmdlets get their arguments splatted from arrays / hashtables.
    expect(src).toContain('& $file @stepArgs')
    expect(src).toContain('& $Step.name @params')
  })
})

import type { ServiceDefinition } from './service-definition.ts'

/**
 * The Windows layout. Paths keep their %VARIABLES%: WinSW expands them in its XML when the
 * service starts, and the install script expands them before it runs a step.
 */
export interface WindowsLayout {
  /** The release (this repository with its node_modules): the services' working directory. */
  installDir: string
  /** Per-component data folders (`<dataRoot>\hub`, `<dataRoot>\agent`), logs in `<data>\logs`. */
  dataRoot: string
  node: string
}

export const DEFAULT_WINDOWS_LAYOUT: WindowsLayout = {
  installDir: '%ProgramFiles%\\TS-VMS',
  dataRoot: '%ProgramData%\\TS-VMS',
  node: '%ProgramFiles%\\nodejs\\node.exe',
}

/** WinSW release the scripts accept: v2.12.0, WinSW-x64.exe, and its SHA-256. */
export const WINSW = {
  version: '2.12.0',
  asset: 'WinSW-x64.exe',
  url: 'https://github.com/winsw/winsw/releases/download/v2.12.0/WinSW-x64.exe',
  sha256: '05b82d46ad331cc16bdc00de5c6332c1ef818df8ceefcd49c726553209b3a0da',
} as const

/** The account the services run as: LocalService (SID S-1-5-19), no password, few rights. */
export const SERVICE_ACCOUNT = { domain: 'NT AUTHORITY', user: 'LocalService', sid: 'S-1-5-19' } as const

export function windowsPaths(def: ServiceDefinition, layout: WindowsLayout = DEFAULT_WINDOWS_LAYOUT) {
  const dataDir = `${layout.dataRoot}\\${def.dataSubdir}`
  const serviceDir = `${layout.installDir}\\service`
  return {
    dataDir,
    logDir: `${dataDir}\\logs`,
    serviceDir,
    /** WinSW renamed to the service id; it reads the XML of the same name beside it. */
    wrapperExe: `${serviceDir}\\${def.id}.exe`,
    wrapperXml: `${serviceDir}\\${def.id}.xml`,
    /** The hub's settings file (VMS_CONFIG), created empty at install if absent. */
    configFile: `${dataDir}\\${def.component}.yaml`,
  }
}

export function xmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
}

function duration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} day`
  if (seconds % 3600 === 0) return `${seconds / 3600} hour`
  return `${seconds} sec`
}

/** Environment of the Windows service, in order. */
export function windowsServiceEnv(def: ServiceDefinition, layout: WindowsLayout = DEFAULT_WINDOWS_LAYOUT) {
  const p = windowsPaths(def, layout)
  const env: Array<[string, string]> = [...Object.entries(def.env), [def.dataDirEnv, p.dataDir]]
  if (def.component === 'hub') env.push(['VMS_CONFIG', p.configFile])
  env.push(...Object.entries(def.windowsEnv))
  return env
}

/**
 * WinSW v2 XML (https://github.com/winsw/winsw/blob/v2/doc/xmlConfigFile.md). Stopping: WinSW sends
 * Ctrl+C (Node's SIGINT), waits up to <stoptimeout>, then kills; the parent goes first so the Node
 * process, not its children, decides the order. Failures: the SCM restarts the service after each of
 * the first three failures (delays from the definition), then leaves it stopped; the count resets
 * after <resetfailure>. stdout/stderr (pino's JSON lines) go to size-rotated files in <logpath>.
 */
export function winswXml(def: ServiceDefinition, layout: WindowsLayout = DEFAULT_WINDOWS_LAYOUT): string {
  const p = windowsPaths(def, layout)
  const e = xmlEscape
  const lines = [
    // An XML comment cannot hold two hyphens in a row: no command line in it.
    '<!-- Generated from installer/src/service-definition.ts (service print, platform windows); do not edit: service-manager.ps1 writes it at install. -->',
    '<service>',
    `  <id>${e(def.id)}</id>`,
    `  <name>${e(def.displayName)}</name>`,
    `  <description>${e(def.description)}</description>`,
    `  <executable>${e(layout.node)}</executable>`,
    `  <arguments>--import tsx ${e(def.entry)}</arguments>`,
    `  <workingdirectory>${e(layout.installDir)}</workingdirectory>`,
    '  <startmode>Automatic</startmode>',
    '  <delayedAutoStart>true</delayedAutoStart>',
    '  <serviceaccount>',
    `    <domain>${SERVICE_ACCOUNT.domain}</domain>`,
    `    <user>${SERVICE_ACCOUNT.user}</user>`,
    '  </serviceaccount>',
    ...def.restart.delaysSeconds.map((d) => `  <onfailure action="restart" delay="${duration(d)}"/>`),
    '  <onfailure action="none"/>',
    `  <resetfailure>${duration(def.restart.resetAfterSeconds)}</resetfailure>`,
    `  <stoptimeout>${duration(def.stopTimeoutSeconds)}</stoptimeout>`,
    '  <stopparentprocessfirst>true</stopparentprocessfirst>',
    `  <logpath>${e(p.logDir)}</logpath>`,
    '  <log mode="roll-by-size">',
    `    <sizeThreshold>${def.logRotation.sizeThresholdKiB}</sizeThreshold>`,
    `    <keepFiles>${def.logRotation.keepFiles}</keepFiles>`,
    '  </log>',
    ...windowsServiceEnv(def, layout).map(([k, v]) => `  <env name="${e(k)}" value="${e(v)}"/>`),
    '</service>',
  ]
  return `${lines.join('\n')}\n`
}

import { describe, expect, it } from 'vitest'
import { AGENT, HUB } from './service-definition.ts'
import { DEFAULT_WINDOWS_LAYOUT, WINSW, windowsPaths, winswXml, xmlEscape } from './winsw.ts'

/**
 * Elements of WinSW v2's XML configuration (doc/xmlConfigFile.md and doc/loggingAndErrorReporting.md
 * of github.com/winsw/winsw, branch v2). A typo in an element name is silently ignored by WinSW,
 * so the generated XML may only use these.
 */
const WINSW_V2_ELEMENTS = new Set([
  'service',
  'id',
  'name',
  'description',
  'executable',
  'startmode',
  'delayedAutoStart',
  'depend',
  'logpath',
  'logmode',
  'log',
  'sizeThreshold',
  'keepFiles',
  'pattern',
  'autoRollAtTime',
  'zipOlderThanNumDays',
  'zipDateFormat',
  'argument',
  'arguments',
  'startargument',
  'stopargument',
  'stopexecutable',
  'stoptimeout',
  'env',
  'interactive',
  'beeponshutdown',
  'download',
  'onfailure',
  'resetfailure',
  'securityDescriptor',
  'serviceaccount',
  'domain',
  'user',
  'password',
  'allowservicelogon',
  'workingdirectory',
  'priority',
  'stopparentprocessfirst',
  'waithint',
  'sleeptime',
])

/** Element names in document order, with a check that tags nest and close (no XML parser needed). */
function elements(xml: string): string[] {
  const names: string[] = []
  const open: string[] = []
  const body = xml.replace(/<!--[\s\S]*?-->/g, '')
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w-]*)((?:\s+[\w-]+="[^"<>]*")*)\s*(\/?)>/g)) {
    const [, closing, name, , selfClosing] = m
    if (!name) continue
    if (closing) {
      expect(open.pop(), `</${name}> closes the open element`).toBe(name)
    } else {
      names.push(name)
      if (!selfClosing) open.push(name)
    }
  }
  expect(open).toEqual([])
  // Nothing but tags, text and entities: no stray < or & left.
  expect(body.replace(/<[^>]*>/g, '')).not.toMatch(/[<>]|&(?!(amp|lt|gt|quot|apos);)/)
  return names
}

function text(xml: string, element: string): string[] {
  return [...xml.matchAll(new RegExp(`<${element}>([^<]*)</${element}>`, 'g'))].map((m) => m[1] ?? '')
}

describe('WinSW XML', () => {
  for (const def of [HUB, AGENT]) {
    describe(def.id, () => {
      const xml = winswXml(def)

      it('matches the golden file', async () => {
        await expect(xml).toMatchFileSnapshot(`../test/golden/${def.id}.xml`)
      })

      it('uses only elements of the WinSW v2 schema, well nested', () => {
        const names = elements(xml)
        expect(names[0]).toBe('service')
        for (const n of names) expect(WINSW_V2_ELEMENTS.has(n), `<${n}> is a WinSW v2 element`).toBe(true)
        // The required ones and the ones the issue asks for.
        for (const n of [
          'id',
          'name',
          'description',
          'executable',
          'arguments',
          'startmode',
          'delayedAutoStart',
          'onfailure',
          'resetfailure',
          'serviceaccount',
          'log',
          'stoptimeout',
          'env',
          'workingdirectory',
        ]) {
          expect(names, n).toContain(n)
        }
      })

      it('has a comment WinSW can parse (no "--" inside)', () => {
        for (const m of xml.matchAll(/<!--([\s\S]*?)-->/g)) expect(m[1]).not.toContain('--')
      })

      it('starts automatically, delayed, as LocalService', () => {
        expect(text(xml, 'id')).toEqual([def.id])
        expect(text(xml, 'startmode')).toEqual(['Automatic'])
        expect(text(xml, 'delayedAutoStart')).toEqual(['true'])
        expect(xml).toMatch(
          /<serviceaccount>\s*<domain>NT AUTHORITY<\/domain>\s*<user>LocalService<\/user>\s*<\/serviceaccount>/,
        )
        expect(xml).not.toMatch(/<password>/)
      })

      it('restarts three times through the SCM, then stops; the count resets after a day', () => {
        const actions = [...xml.matchAll(/<onfailure action="(\w+)"(?: delay="([^"]+)")?\/>/g)].map((m) => [
          m[1],
          m[2],
        ])
        expect(actions).toEqual([
          ['restart', '10 sec'],
          ['restart', '30 sec'],
          ['restart', '60 sec'],
          ['none', undefined],
        ])
        expect(text(xml, 'resetfailure')).toEqual(['1 day'])
      })

      it('rotates its log by size in the data folder', () => {
        expect(xml).toContain('<log mode="roll-by-size">')
        expect(text(xml, 'sizeThreshold')).toEqual(['10240'])
        expect(text(xml, 'keepFiles')).toEqual(['8'])
        expect(text(xml, 'logpath')).toEqual([xmlEscape(windowsPaths(def).logDir)])
      })

      it('waits long enough on stop, parent first (Ctrl+C reaches Node before anything is killed)', () => {
        const [timeout] = text(xml, 'stoptimeout')
        const seconds = Number(/^(\d+) sec$/.exec(timeout ?? '')?.[1])
        expect(seconds).toBe(def.stopTimeoutSeconds)
        expect(seconds).toBeGreaterThanOrEqual(def.component === 'agent' ? 60 : 15)
        expect(text(xml, 'stopparentprocessfirst')).toEqual(['true'])
      })

      it('runs node --import tsx on the entry in the install directory, with the data folder set', () => {
        expect(text(xml, 'executable')).toEqual([DEFAULT_WINDOWS_LAYOUT.node])
        expect(text(xml, 'arguments')).toEqual([`--import tsx ${def.entry}`])
        expect(text(xml, 'workingdirectory')).toEqual([DEFAULT_WINDOWS_LAYOUT.installDir])
        expect(xml).toContain(`<env name="${def.dataDirEnv}" value="${windowsPaths(def).dataDir}"/>`)
        expect(xml).toContain('<env name="NODE_ENV" value="production"/>')
      })
    })
  }

  it('sets the agent WebRTC range the firewall opens', () => {
    const xml = winswXml(AGENT)
    const range = AGENT.firewall.find((r) => r.key === 'agent-webrtc')?.ports
    expect(xml).toContain(`<env name="VMS_AGENT_LIVE_PORT_RANGE" value="${range}"/>`)
  })

  it('escapes what it puts in the XML', () => {
    const xml = winswXml(HUB, { ...DEFAULT_WINDOWS_LAYOUT, installDir: 'C:\\A&B <x> "q"' })
    expect(xml).toContain('<workingdirectory>C:\\A&amp;B &lt;x&gt; &quot;q&quot;</workingdirectory>')
    elements(xml)
  })

  it('pins WinSW 2.12.0 x64 by SHA-256', () => {
    expect(WINSW.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(WINSW.url).toContain(`/v${WINSW.version}/${WINSW.asset}`)
  })
})

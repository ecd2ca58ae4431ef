import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { at, attr, parseXml, textAt, XmlError } from '../xml.ts'
import {
  absoluteMoveBody,
  continuousMoveBody,
  gotoPresetBody,
  parseConfigurations,
  parseNodes,
  parsePresets,
  parseSetPreset,
  parseStatus,
  relativeMoveBody,
  setPresetBody,
  stopBody,
} from './ptz.ts'
import { OnvifError } from './soap.ts'

const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../shared/fixtures/devices/onvif',
)

function fixture(name: string): string | undefined {
  const file = path.join(FIXTURES, name)
  try {
    return readFileSync(file, 'utf8')
  } catch {
    console.warn(`SKIPPING fixture test: ${file} is absent`)
    return undefined
  }
}

const env = (body: string) =>
  `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>${body}</s:Body></s:Envelope>`
const body = (xml: string) => parseXml(`<r xmlns:tptz="a" xmlns:tt="b">${xml}</r>`).r

describe('PTZ parsers on the agsh fixtures', () => {
  it('GetNodes: spaces, presets, home, aux commands', () => {
    const xml = fixture('agsh_GetNodes.xml')
    if (!xml) return
    const [node, ...rest] = parseNodes(200, xml)
    expect(rest).toEqual([])
    expect(node).toEqual({
      token: 'default',
      name: 'default',
      supports: { absolute: true, relative: true, continuous: true },
      maxPresets: 360,
      homeSupported: true,
      auxiliaryCommands: ['AUX1', 'AUX2', 'AUX3', 'AUX4', 'AUX5', 'AUX6', 'AUX7', 'AUX8'],
    })
  })

  it('GetConfigurations', () => {
    const xml = fixture('agsh_GetConfigurations.xml')
    if (!xml) return
    expect(parseConfigurations(200, xml)).toEqual([
      { token: 'default', name: 'default', nodeToken: 'default', defaultTimeout: 'PT1093754.348S' },
    ])
  })

  it('GetStatus', () => {
    const xml = fixture('agsh_GetStatus.xml')
    if (!xml) return
    expect(parseStatus(200, xml)).toEqual({
      position: { pan: -0.864665985, tilt: 0.267444015, zoom: 0.211861998 },
      moveStatus: { panTilt: 'IDLE', zoom: 'IDLE' },
      utcTime: '2014-12-29T20:01:31Z',
    })
  })
})

describe('PTZ presets', () => {
  it('GetPresets and SetPreset', () => {
    const xml = env(
      '<tptz:GetPresetsResponse><tptz:Preset token="1"><tt:Name>Door &amp; till</tt:Name><tt:PTZPosition><tt:PanTilt x="0.1" y="0.2"/><tt:Zoom x="0.3"/></tt:PTZPosition></tptz:Preset>' +
        '<tptz:Preset token="2"/><tptz:Preset><tt:Name>no token</tt:Name></tptz:Preset></tptz:GetPresetsResponse>',
    )
    expect(parsePresets(200, xml)).toEqual([
      { token: '1', name: 'Door & till', position: { pan: 0.1, tilt: 0.2, zoom: 0.3 } },
      { token: '2' },
    ])
    expect(
      parseSetPreset(
        200,
        env('<tptz:SetPresetResponse><tptz:PresetToken>7</tptz:PresetToken></tptz:SetPresetResponse>'),
      ),
    ).toBe('7')
    expect(() => parseSetPreset(200, env('<tptz:SetPresetResponse/>'))).toThrow(
      expect.objectContaining({ code: 'bad_response' }),
    )
  })
})

describe('PTZ request bodies', () => {
  it('ContinuousMove clamps velocities to -1..1 and writes a duration', () => {
    const b = body(continuousMoveBody('prof', { pan: 2, tilt: -0.5, zoom: -3 }, 1500))
    expect(textAt(b, 'ContinuousMove', 'ProfileToken')).toBe('prof')
    const pt = at(b, 'ContinuousMove', 'Velocity', 'PanTilt')
    expect([attr(pt, 'x'), attr(pt, 'y')]).toEqual(['1', '-0.5'])
    expect(attr(at(b, 'ContinuousMove', 'Velocity', 'Zoom'), 'x')).toBe('-1')
    expect(textAt(b, 'ContinuousMove', 'Timeout')).toBe('PT1.5S')
    // Zoom only: no PanTilt element (a camera would otherwise stop panning).
    expect(
      at(body(continuousMoveBody('p', { zoom: 0.5 })), 'ContinuousMove', 'Velocity', 'PanTilt'),
    ).toBeUndefined()
  })

  it('Absolute positions keep zoom in 0..1; Stop, GotoPreset and SetPreset escape tokens', () => {
    expect(
      attr(
        at(body(absoluteMoveBody('p', { pan: 0, tilt: 0, zoom: -1 })), 'AbsoluteMove', 'Position', 'Zoom'),
        'x',
      ),
    ).toBe('0')
    expect(
      at(body(relativeMoveBody('p', { pan: 0.1 }, { pan: 1 })), 'RelativeMove', 'Speed', 'PanTilt'),
    ).toBeDefined()
    expect(textAt(body(stopBody('p', true, false)), 'Stop', 'Zoom')).toBe('false')
    expect(textAt(body(gotoPresetBody('p', '<1>')), 'GotoPreset', 'PresetToken')).toBe('&lt;1&gt;')
    expect(textAt(body(setPresetBody('p', 'Till')), 'SetPreset', 'PresetName')).toBe('Till')
  })

  it('velocity bodies always parse and stay in range for any finite input', () => {
    fc.assert(
      fc.property(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        (pan, tilt, zoom) => {
          const b = body(continuousMoveBody('p', { pan, tilt, zoom }))
          for (const v of [
            attr(at(b, 'ContinuousMove', 'Velocity', 'PanTilt'), 'x'),
            attr(at(b, 'ContinuousMove', 'Velocity', 'PanTilt'), 'y'),
            attr(at(b, 'ContinuousMove', 'Velocity', 'Zoom'), 'x'),
          ]) {
            expect(v).toMatch(/^-?\d+(\.\d+)?$/)
            expect(Math.abs(Number(v))).toBeLessThanOrEqual(1)
          }
        },
      ),
    )
  })
})

describe('PTZ parsers on arbitrary input', () => {
  it('never throw anything but OnvifError/XmlError', () => {
    const arb = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .constantFrom('PTZNode', 'PTZStatus', 'Preset', 'PTZConfiguration', 'MoveStatus', 'Position')
        .chain((tag) =>
          fc
            .string({ maxLength: 40 })
            .map((s) =>
              env(`<tptz:GetNodesResponse><tptz:${tag}>${s}</tptz:${tag}></tptz:GetNodesResponse>`),
            ),
        ),
    )
    fc.assert(
      fc.property(
        arb,
        fc.constantFrom(parseNodes, parseConfigurations, parseStatus, parsePresets, parseSetPreset),
        (s, parse) => {
          try {
            parse(200, s)
          } catch (err) {
            expect(err instanceof OnvifError || err instanceof XmlError).toBe(true)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

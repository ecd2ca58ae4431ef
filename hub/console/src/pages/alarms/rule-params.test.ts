import { describe, expect, it } from 'vitest'
import { describeParams, draftOf, fieldErrors, paramsOf } from './rule-params.ts'

describe('alarm rule parameters', () => {
  it('pre-fills each kind with the hub defaults and sends numbers', () => {
    expect(draftOf('camera.offline').numbers).toEqual({ seconds: '60' })
    expect(draftOf('recording.gap').numbers).toEqual({ seconds: '10', quietSeconds: '600' })
    expect(draftOf('clock.drift').numbers).toEqual({ seconds: '2', forSeconds: '30' })
    expect(draftOf('retention.short').numbers).toEqual({ days: '' })
    const d = draftOf('camera.offline')
    d.numbers.seconds = ' 1 '
    expect(paramsOf('camera.offline', d)).toEqual({ seconds: 1 })
    expect(paramsOf('retention.short', draftOf('retention.short'))).toEqual({})
    expect(paramsOf('disk.full', { ...draftOf('disk.full'), numbers: { percent: '' } })).toEqual({
      percent: 90,
    })
    // Text that is no number goes as it is, for the hub to refuse with the field's name.
    expect(paramsOf('disk.full', { ...draftOf('disk.full'), numbers: { percent: 'lots' } })).toEqual({
      percent: 'lots',
    })
  })

  it('keeps a stored rule’s values and the object.zone schedule', () => {
    const stored = {
      label: 'person',
      zone: 'stockroom',
      loitering: true,
      schedule: [{ days: ['sun', 'mon'], from: '22:00', to: '06:00' }],
    }
    const draft = draftOf('object.zone', stored)
    expect(draft).toMatchObject({ label: 'person', zone: 'stockroom', loitering: true })
    expect(draft.schedule).toEqual([{ days: ['mon', 'sun'], from: '22:00', to: '06:00' }])
    expect(paramsOf('object.zone', draft)).toEqual({ ...stored, schedule: draft.schedule })
    expect(describeParams({ kind: 'object.zone', params: stored })).toBe(
      'person in stockroom, loitering only; Sun Mon 22:00–06:00',
    )
    expect(describeParams({ kind: 'camera.offline', params: { seconds: 60 } })).toBe('Seconds 60')
    expect(describeParams({ kind: 'retention.short', params: {} })).toBe('Days: default')
    expect(draftOf('disk.full', { percent: 95 }).numbers).toEqual({ percent: '95' })
  })

  it('maps the hub’s 400 details to fields', () => {
    expect(
      fieldErrors([
        { path: 'params.label', message: 'required' },
        { path: 'params.label', message: 'too long' },
        { path: 'name', message: 'a name is required' },
      ]),
    ).toEqual({ 'params.label': 'required; too long', name: 'a name is required' })
    expect(fieldErrors(undefined)).toEqual({})
  })
})

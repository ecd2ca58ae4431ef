import { describe, expect, it } from 'vitest'
import type { z } from 'zod'
import {
  ANALYTICS_DEFAULTS,
  ANALYTICS_LIMITS,
  type AnalyticsConfig,
  analyticsConfigPatchSchema,
  analyticsConfigSchema,
  mergeAnalyticsConfig,
  resolveAnalyticsStream,
  zoneNameKey,
} from './analytics-config.ts'
import { COCO_LABELS } from './coco-labels.ts'

const schema = analyticsConfigSchema(COCO_LABELS)
const patchSchema = analyticsConfigPatchSchema(COCO_LABELS)

/** The example of the contract, verbatim. */
const example = {
  enabled: true,
  stream: 'sub',
  fps: 5,
  model: 'default',
  objects: ['person', 'car'],
  minScore: 0.5,
  threshold: 0.7,
  minArea: 0,
  zones: [
    {
      name: 'entrance',
      polygon: [
        [0, 0],
        [0.5, 0],
        [0.5, 1],
        [0, 1],
      ],
      objects: ['person'],
      inertia: 3,
      loiterSeconds: 0,
    },
  ],
  motionMasks: [
    [
      [0.8, 0],
      [1, 0],
      [1, 0.1],
      [0.8, 0.1],
    ],
  ],
  objectMasks: [],
}

const square = [
  [0.1, 0.1],
  [0.4, 0.1],
  [0.4, 0.4],
  [0.1, 0.4],
]
const zone = (name: string, extra: Record<string, unknown> = {}) => ({ name, polygon: square, ...extra })

/** The issues of a parse that must fail, with their paths joined the way a UI shows them. */
function issuesOf(result: z.ZodSafeParseResult<unknown>): { path: string; message: string }[] {
  expect(result.success, 'expected the parse to fail').toBe(false)
  return (result.error?.issues ?? []).map((issue) => ({ path: issue.path.join('.'), message: issue.message }))
}

/** Paths of the issues found parsing `input` with the full schema. */
const pathsOf = (input: unknown) => issuesOf(schema.safeParse(input)).map((i) => i.path)

describe('analyticsConfigSchema', () => {
  it('parses the contract’s example as given', () => {
    const parsed = schema.parse(example)
    expect(parsed).toEqual({ ...example, motionSource: 'agent', zones: [{ ...example.zones[0] }] })
  })

  it('applies the defaults to what is absent', () => {
    expect(schema.parse({})).toEqual({
      enabled: false,
      fps: 5,
      model: 'default',
      objects: ['person'],
      minScore: 0.5,
      threshold: 0.7,
      minArea: 0,
      zones: [],
      motionMasks: [],
      objectMasks: [],
      motionSource: 'agent',
    } satisfies AnalyticsConfig)
    const parsed = schema.parse({ enabled: true, zones: [zone('till')] })
    expect(parsed.stream).toBeUndefined()
    expect(parsed.maxArea).toBeUndefined()
    expect(parsed.zones[0]).toEqual({ name: 'till', polygon: square, inertia: 3, loiterSeconds: 0 })
    expect(parsed.zones[0]?.objects).toBeUndefined()
  })

  it('does not share default lists between parses', () => {
    const first = schema.parse({})
    first.objects.push('car')
    first.zones.push({ name: 'x', polygon: [], inertia: 3, loiterSeconds: 0 })
    expect(schema.parse({}).objects).toEqual(['person'])
    expect(schema.parse({}).zones).toEqual([])
  })

  it('accepts the bounds themselves', () => {
    const ok = schema.parse({
      fps: 15,
      minScore: 1,
      threshold: 0,
      minArea: 0.25,
      maxArea: 1,
      zones: [zone('a'.repeat(64), { inertia: 50, loiterSeconds: 86_400 })],
      objectMasks: Array.from({ length: 32 }, () => square),
    })
    expect(ok.fps).toBe(15)
    expect(schema.parse({ fps: 1, zones: [zone('z', { inertia: 1 })] }).fps).toBe(1)
    const manyPoints = Array.from({ length: 100 }, (_, i) => {
      const angle = (i / 100) * 2 * Math.PI
      return [0.5 + 0.4 * Math.cos(angle), 0.5 + 0.4 * Math.sin(angle)]
    })
    expect(schema.parse({ motionMasks: [manyPoints] }).motionMasks[0]).toHaveLength(100)
    const allZones = Array.from({ length: 32 }, (_, i) => zone(`zone ${i}`))
    expect(schema.parse({ zones: allZones }).zones).toHaveLength(32)
  })

  it('takes the motion from the agent or the camera, the agent by default', () => {
    expect(ANALYTICS_DEFAULTS.motionSource).toBe('agent')
    expect(schema.parse({}).motionSource).toBe('agent')
    expect(schema.parse({ motionSource: 'device' }).motionSource).toBe('device')
    expect(schema.parse({ motionSource: 'agent' }).motionSource).toBe('agent')
  })

  it('accepts names in any script, with inner spaces and emoji', () => {
    for (const name of ['Entrée', 'קופה', 'レジ 2', 'Till 🛒', 'a']) {
      expect(schema.parse({ zones: [zone(name)] }).zones[0]?.name).toBe(name)
    }
  })

  it('refuses unknown keys, so typos do not fall back to defaults silently', () => {
    expect(issuesOf(schema.safeParse({ min_score: 0.9 }))[0]?.message).toMatch(/min_score/)
    expect(pathsOf({ zones: [zone('a', { loiter_seconds: 5 })] })).toEqual(['zones.0'])
  })

  describe('names the field of every error', () => {
    const cases: [string, unknown, string][] = [
      ['fps below 1', { fps: 0 }, 'fps'],
      ['fps above 15', { fps: 16 }, 'fps'],
      ['fractional fps', { fps: 2.5 }, 'fps'],
      ['fps as a string', { fps: '5' }, 'fps'],
      ['minScore below 0', { minScore: -0.1 }, 'minScore'],
      ['minScore above 1', { minScore: 1.5 }, 'minScore'],
      ['threshold above 1', { threshold: 70 }, 'threshold'],
      ['threshold not a number', { threshold: Number.NaN }, 'threshold'],
      ['minArea above 1 (pixels, not a fraction)', { minArea: 5000 }, 'minArea'],
      ['maxArea 0', { maxArea: 0 }, 'maxArea'],
      ['maxArea not above minArea', { minArea: 0.5, maxArea: 0.5 }, 'maxArea'],
      ['unknown stream', { stream: 'third' }, 'stream'],
      ['model with a path', { model: '../../etc/passwd' }, 'model'],
      ['empty model', { model: '' }, 'model'],
      ['enabled as a string', { enabled: 'yes' }, 'enabled'],
      ['unknown motion source', { motionSource: 'camera' }, 'motionSource'],
      ['motion source as a boolean', { motionSource: true }, 'motionSource'],
      ['no objects', { objects: [] }, 'objects'],
      ['repeated object', { objects: ['person', 'car', 'person'] }, 'objects.2'],
      ['empty label', { objects: [''] }, 'objects.0'],
      ['polygon of 2 points', { zones: [zone('a', { polygon: square.slice(0, 2) })] }, 'zones.0.polygon'],
      ['polygon of 0 points', { motionMasks: [[]] }, 'motionMasks.0'],
      [
        'coordinate above 1',
        {
          zones: [
            zone('a', {
              polygon: [
                [0, 0],
                [1.2, 0],
                [1, 1],
              ],
            }),
          ],
        },
        'zones.0.polygon.1.0',
      ],
      [
        'negative coordinate',
        {
          objectMasks: [
            square,
            [
              [0, 0],
              [1, 0],
              [1, -0.1],
            ],
          ],
        },
        'objectMasks.1.2.1',
      ],
      [
        'infinite coordinate',
        {
          zones: [
            zone('a', {
              polygon: [
                [0, 0],
                [Number.POSITIVE_INFINITY, 0],
                [1, 1],
              ],
            }),
          ],
        },
        'zones.0.polygon.1.0',
      ],
      [
        'NaN coordinate',
        {
          motionMasks: [
            [
              [0, 0],
              [Number.NaN, 0],
              [1, 1],
            ],
          ],
        },
        'motionMasks.0.1.0',
      ],
      [
        'point of 3 numbers',
        {
          motionMasks: [
            [
              [0, 0, 0],
              [1, 0],
              [1, 1],
            ],
          ],
        },
        'motionMasks.0.0',
      ],
      [
        'self-intersecting zone',
        {
          zones: [
            zone('a'),
            zone('b', {
              polygon: [
                [0, 0],
                [1, 1],
                [1, 0],
                [0, 1],
              ],
            }),
          ],
        },
        'zones.1.polygon',
      ],
      [
        'self-intersecting mask',
        {
          motionMasks: [
            [
              [0, 0],
              [1, 1],
              [1, 0],
              [0, 1],
            ],
          ],
        },
        'motionMasks.0',
      ],
      ['closed ring (first point repeated)', { objectMasks: [[...square, square[0]]] }, 'objectMasks.0'],
      ['inertia 0', { zones: [zone('a', { inertia: 0 })] }, 'zones.0.inertia'],
      ['inertia 51', { zones: [zone('a', { inertia: 51 })] }, 'zones.0.inertia'],
      ['negative loiter', { zones: [zone('a', { loiterSeconds: -1 })] }, 'zones.0.loiterSeconds'],
      ['loiter over a day', { zones: [zone('a', { loiterSeconds: 86_401 })] }, 'zones.0.loiterSeconds'],
      ['empty zone objects', { zones: [zone('a', { objects: [] })] }, 'zones.0.objects'],
      ['empty zone name', { zones: [zone('')] }, 'zones.0.name'],
      ['zone without a name', { zones: [{ polygon: square }] }, 'zones.0.name'],
      [
        'zone object the camera does not detect',
        { objects: ['person'], zones: [zone('a', { objects: ['person', 'car'] })] },
        'zones.0.objects.1',
      ],
    ]
    it.each(cases)('%s', (_, input, path) => {
      expect(pathsOf(input)).toContain(path)
    })
  })

  it('names an unknown label in the message, and suggests the right spelling', () => {
    const [issue] = issuesOf(schema.safeParse({ objects: ['person', 'unicorn'] }))
    expect(issue?.path).toBe('objects.1')
    expect(issue?.message).toContain('"unicorn"')
    const [zoneIssue] = issuesOf(schema.safeParse({ zones: [zone('a', { objects: ['Person'] })] }))
    expect(zoneIssue?.path).toBe('zones.0.objects.0')
    expect(zoneIssue?.message).toContain('"Person"')
    expect(zoneIssue?.message).toContain('did you mean "person"')
  })

  it('knows the labels of the model it was built for', () => {
    const custom = analyticsConfigSchema(['forklift', 'person'])
    expect(custom.parse({ model: 'warehouse-v2', objects: ['forklift'] }).objects).toEqual(['forklift'])
    expect(issuesOf(custom.safeParse({ objects: ['car'] }))[0]?.path).toBe('objects.0')
    expect(issuesOf(schema.safeParse({ objects: ['forklift'] }))[0]?.message).toContain('"forklift"')
  })

  it('does not echo hostile label text whole', () => {
    const [issue] = issuesOf(schema.safeParse({ objects: ['bad\u0000label\u001B[31m'] }))
    expect(issue?.path).toBe('objects.0')
    expect(issue?.message).not.toContain('\u0000')
    expect(issue?.message).not.toContain('\u001B')
    const long = issuesOf(schema.safeParse({ objects: ['x'.repeat(10_000)] }))
    expect(long.map((i) => i.path)).toEqual(['objects.0'])
    expect(long[0]?.message.length).toBeLessThan(200)
  })

  describe('refuses hostile zone names', () => {
    const hostile: [string, string][] = [
      ['NUL', 'entr\u0000ance'],
      ['a lone high surrogate', 'entrance\uD800'],
      ['a lone low surrogate', '\uDC00entrance'],
      ['an escape sequence', '\u001B[2Jentrance'],
      ['a line break', 'entrance\nexit'],
      ['a tab', 'entrance\tA'],
      ['DEL', 'entrance\u007F'],
      ['a C1 control', 'entrance\u0085'],
      ['a right-to-left override', 'exit\u202Eecnartne'],
      ['a bidi isolate', '\u2067entrance\u2069'],
      ['leading white space', ' entrance'],
      ['trailing white space', 'entrance '],
      ['only white space', '   '],
      ['10,000 characters', 'x'.repeat(10_000)],
      ['65 characters', 'x'.repeat(65)],
    ]
    it.each(hostile)('%s', (_, name) => {
      const issues = issuesOf(schema.safeParse({ zones: [zone('ok'), zone(name)] }))
      expect(issues.map((i) => i.path)).toEqual(['zones.1.name'])
    })

    it('answers a 10,000-character name with one short issue', () => {
      const [issue] = issuesOf(schema.safeParse({ zones: [zone('x'.repeat(10_000))] }))
      expect(issue?.message.length).toBeLessThan(200)
    })

    it('keeps a surrogate pair (an emoji) whole at the length limit', () => {
      // 62 code units + one emoji (2 code units) = 64: allowed.
      expect(schema.parse({ zones: [zone(`${'x'.repeat(62)}🛒`)] }).zones).toHaveLength(1)
    })
  })

  describe('refuses huge arrays', () => {
    const many = (n: number, make: (i: number) => unknown) => Array.from({ length: n }, (_, i) => make(i))
    const cases: [string, unknown, string][] = [
      ['33 zones', { zones: many(33, (i) => zone(`z${i}`)) }, 'zones'],
      ['33 motion masks', { motionMasks: many(33, () => square) }, 'motionMasks'],
      ['33 object masks', { objectMasks: many(33, () => square) }, 'objectMasks'],
      ['101 objects', { objects: many(101, () => 'person') }, 'objects'],
      ['101 zone objects', { zones: [zone('a', { objects: many(101, () => 'person') })] }, 'zones.0.objects'],
      ['101 points', { motionMasks: [many(101, (i) => [i / 200, (i * i) / 40_000])] }, 'motionMasks.0'],
      // About as many as a 1 MiB request body can carry.
      ['200,000 points', { motionMasks: [many(200_000, () => [0, 0])] }, 'motionMasks.0'],
      ['100,000 zones', { zones: many(100_000, () => zone('same')) }, 'zones'],
    ]
    it.each(cases)('%s', (_, input, path) => {
      const issues = issuesOf(schema.safeParse(input))
      expect(issues.map((i) => i.path)).toContain(path)
      // One issue for the length, not one per element.
      expect(issues.length).toBeLessThanOrEqual(2)
    })
  })

  describe('duplicate zone names', () => {
    it('refuses names equal ignoring case, pointing at the later zone', () => {
      const issues = issuesOf(schema.safeParse({ zones: [zone('Entrance'), zone('till'), zone('entrance')] }))
      expect(issues.map((i) => i.path)).toEqual(['zones.2.name'])
      expect(issues[0]?.message).toMatch(/zone 0/)
    })

    it('refuses names equal after Unicode NFC normalisation', () => {
      const composed = 'Entr\u00E9e'
      const decomposed = 'entre\u0301e'
      expect(composed).not.toBe(decomposed)
      expect(zoneNameKey(composed)).toBe(zoneNameKey(decomposed))
      expect(pathsOf({ zones: [zone(composed), zone(decomposed)] })).toEqual(['zones.1.name'])
    })

    it('reports every later duplicate', () => {
      expect(pathsOf({ zones: [zone('a'), zone('A'), zone('b'), zone('a')] })).toEqual([
        'zones.1.name',
        'zones.3.name',
      ])
    })

    it('allows names that differ', () => {
      expect(schema.parse({ zones: [zone('entrance'), zone('entrance 2')] }).zones).toHaveLength(2)
    })
  })

  it('reports every problem of an input at once', () => {
    const paths = pathsOf({
      fps: 0,
      minScore: 2,
      objects: ['person', 'dragon'],
      zones: [zone('a', { polygon: [[0, 0]] }), zone('A')],
    })
    expect(paths).toEqual(
      expect.arrayContaining(['fps', 'minScore', 'objects.1', 'zones.0.polygon', 'zones.1.name']),
    )
  })

  it('answers wrongly typed elements with issues, never a throw', () => {
    expect(pathsOf({ objects: [5, 5] })).toEqual(['objects.0', 'objects.1'])
    expect(pathsOf({ zones: [{ name: 5, polygon: square }, { name: 5, polygon: 'square' }, null] })).toEqual([
      'zones.0.name',
      'zones.1.name',
      'zones.1.polygon',
      'zones.2',
    ])
    expect(pathsOf({ objects: 'person', zones: [zone('a', { objects: [7] })] })).toEqual(
      expect.arrayContaining(['objects', 'zones.0.objects.0']),
    )
    expect(pathsOf({ motionMasks: [[null, 'x', [0, 0]]] })).toEqual(['motionMasks.0.0', 'motionMasks.0.1'])
  })

  it('refuses what is not an object', () => {
    for (const input of [null, [], 'analytics', 5]) {
      expect(schema.safeParse(input).success).toBe(false)
    }
  })

  it('exports its limits', () => {
    expect(ANALYTICS_LIMITS.maxZones).toBe(32)
    expect(ANALYTICS_LIMITS.maxPolygonPoints).toBe(100)
  })
})

describe('analyticsConfigPatchSchema', () => {
  const stored = schema.parse(example)

  it('keeps absent fields absent instead of filling in defaults', () => {
    expect(patchSchema.parse({ fps: 10 })).toEqual({ fps: 10 })
    expect(patchSchema.parse({})).toEqual({})
  })

  it('validates each present field like the full schema, with the same paths', () => {
    expect(issuesOf(patchSchema.safeParse({ fps: 30 })).map((i) => i.path)).toEqual(['fps'])
    expect(issuesOf(patchSchema.safeParse({ objects: ['unicorn'] }))[0]).toMatchObject({
      path: 'objects.0',
      message: expect.stringContaining('"unicorn"'),
    })
    const bowTie = [
      [0, 0],
      [1, 1],
      [1, 0],
      [0, 1],
    ]
    expect(
      issuesOf(patchSchema.safeParse({ zones: [zone('a'), zone('b', { polygon: bowTie })] }))[0]?.path,
    ).toBe('zones.1.polygon')
    expect(issuesOf(patchSchema.safeParse({ zones: [zone('a'), zone('A')] }))[0]?.path).toBe('zones.1.name')
    expect(issuesOf(patchSchema.safeParse({ zones: [zone('bad\uD800')] }))[0]?.path).toBe('zones.0.name')
    expect(issuesOf(patchSchema.safeParse({ bogus: 1 }))[0]?.message).toMatch(/bogus/)
  })

  it('fills the defaults inside a replaced zone list', () => {
    expect(patchSchema.parse({ zones: [zone('a')] }).zones?.[0]).toMatchObject({
      inertia: 3,
      loiterSeconds: 0,
    })
  })

  it('checks rules across fields present together', () => {
    const issues = issuesOf(
      patchSchema.safeParse({ objects: ['car'], zones: [zone('a', { objects: ['person'] })] }),
    )
    expect(issues.map((i) => i.path)).toEqual(['zones.0.objects.0'])
    expect(issuesOf(patchSchema.safeParse({ minArea: 0.2, maxArea: 0.1 }))[0]?.path).toBe('maxArea')
  })

  it('merges into the stored config, null meaning "back to the default"', () => {
    const patch = patchSchema.parse({ fps: 10, stream: null, objects: null, zones: [zone('till')] })
    const merged = schema.parse(mergeAnalyticsConfig(stored, patch))
    expect(merged.fps).toBe(10)
    expect(merged.stream).toBeUndefined()
    expect(merged.objects).toEqual(['person'])
    expect(merged.zones.map((z) => z.name)).toEqual(['till'])
    expect(merged.motionMasks).toEqual(stored.motionMasks)
    expect(merged.enabled).toBe(true)
  })

  it('patches the motion source: set, kept when absent, back to the agent with null', () => {
    expect(patchSchema.parse({ motionSource: 'device' })).toEqual({ motionSource: 'device' })
    expect(issuesOf(patchSchema.safeParse({ motionSource: 'pixels' })).map((i) => i.path)).toEqual([
      'motionSource',
    ])
    const device = schema.parse(mergeAnalyticsConfig(stored, patchSchema.parse({ motionSource: 'device' })))
    expect(device.motionSource).toBe('device')
    expect(device.fps).toBe(stored.fps)
    const kept = schema.parse(mergeAnalyticsConfig(device, patchSchema.parse({ fps: 2 })))
    expect(kept.motionSource).toBe('device')
    const back = schema.parse(mergeAnalyticsConfig(device, patchSchema.parse({ motionSource: null })))
    expect(back.motionSource).toBe('agent')
  })

  it('catches a patch that breaks a rule against the stored fields when the merge is re-parsed', () => {
    // The stored zone "entrance" watches "person"; dropping "person" from the camera breaks it.
    const patch = patchSchema.parse({ objects: ['car'] })
    const result = schema.safeParse(mergeAnalyticsConfig(stored, patch))
    expect(issuesOf(result).map((i) => i.path)).toEqual(['zones.0.objects.0'])
  })
})

describe('resolveAnalyticsStream', () => {
  it('defaults to the sub stream when there is one, else the main stream', () => {
    expect(resolveAnalyticsStream({}, true)).toBe('sub')
    expect(resolveAnalyticsStream({}, false)).toBe('main')
    expect(resolveAnalyticsStream(schema.parse({}), true)).toBe('sub')
  })

  it('keeps an explicit choice', () => {
    expect(resolveAnalyticsStream({ stream: 'main' }, true)).toBe('main')
    expect(resolveAnalyticsStream({ stream: 'sub' }, false)).toBe('sub')
  })
})

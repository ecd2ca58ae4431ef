import { z } from 'zod'
import { type StreamRole, streamRole } from '../protocol/stream-role.ts'
import { cleanText, isStorableText } from '../text/clean-text.ts'
import { isSelfIntersecting, type Point, type Polygon } from './geometry.ts'

/**
 * A camera's `analytics` configuration: which stream the agent decodes, how often it runs the
 * detector, which objects it reports, and the zones and masks drawn on the picture (Frigate's
 * model: an object is in a zone when its box's bottom-centre is). Validated by the hub when an
 * operator saves it and by the agent when it arrives, with the labels of the model it names.
 *
 * Every error is a zod issue whose path names the field (`zones.1.polygon`, `objects.0`), so a UI
 * can put the message next to the input that caused it.
 */

/** Upper bounds, so no list or string in the configuration grows without limit. */
export const ANALYTICS_LIMITS = {
  minFps: 1,
  maxFps: 15,
  maxZones: 32,
  /** Per mask list (motion, object). */
  maxMasks: 32,
  minPolygonPoints: 3,
  maxPolygonPoints: 100,
  maxNameLength: 64,
  maxLabelLength: 64,
  /** Per object list (the camera's, a zone's). */
  maxObjects: 100,
  minInertia: 1,
  maxInertia: 50,
  /** A day: a loiter time longer than that is a typo, and no track lives that long. */
  maxLoiterSeconds: 86_400,
} as const

/** Defaults applied when a field is absent (`stream` is resolved per camera, see below). */
export const ANALYTICS_DEFAULTS = {
  /** Detection costs the agent CPU: a camera does not start it without being told to. */
  enabled: false,
  fps: 5,
  model: 'default',
  objects: ['person'],
  minScore: 0.5,
  threshold: 0.7,
  minArea: 0,
  inertia: 3,
  loiterSeconds: 0,
  motionSource: 'agent',
} as const

/**
 * Where a camera's motion comes from: `agent`, the agent's own pixel motion detection on the
 * decoded frames (motion boxes, so the detector looks only where something moves); `device`, the
 * camera's own motion events (`device.motion`, which need a device with events on): the agent
 * then computes no pixel motion, and while the camera reports motion the whole frame counts as
 * moving.
 */
export const motionSource = z.enum(['agent', 'device'])
export type MotionSource = z.infer<typeof motionSource>

/**
 * Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): storable, but
 * they make a name display as something else ("Trojan Source"), so one zone can pose as another.
 */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/

/** Why `value` is unfit as a name shown to operators and stored in PostgreSQL, or undefined. */
function nameTextProblem(value: string): string | undefined {
  if (!isStorableText(value)) return 'must not contain NUL or a lone UTF-16 surrogate'
  // cleanText strips control characters (and turns tabs and line breaks into spaces): a name it
  // would change holds one.
  if (cleanText(value, { maxLength: value.length }) !== value) {
    return 'must not contain control characters (tabs and line breaks included)'
  }
  if (BIDI_CONTROLS.test(value)) return 'must not contain bidirectional override or isolate characters'
  if (value.trim() !== value) return 'must not start or end with white space'
  return undefined
}

/**
 * A zone name: 1..64 characters of text that stores, logs and displays as what it is. `abort`
 * on the length stops a 10,000-character name before the text checks scan it.
 */
const zoneName = z
  .string()
  .min(1)
  .max(ANALYTICS_LIMITS.maxNameLength, { abort: true })
  .superRefine((value, ctx) => {
    const problem = nameTextProblem(value)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `zone name ${problem}` })
  })

/**
 * The key two zone names collide on: NFC so a composed "é" equals "e" + combining acute, and
 * lower case because "Entrance" next to "entrance" would confuse operators, and Frigate-style MQTT
 * topics and event filters that match zone names loosely would merge them.
 */
export function zoneNameKey(name: string): string {
  return name.normalize('NFC').toLowerCase()
}

/** Which model the camera runs: an id in the agent's model registry, never a path. */
const modelId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'model must be 1..64 letters, digits, ".", "_" or "-"')

/** A fraction 0..1 (scores; areas as a fraction of the frame, so they survive a resolution change). */
const fraction = z.number().min(0).max(1)

/** A relative coordinate: finite (zod refuses NaN and ±Infinity) and within the frame. */
const coordinate = z.number().min(0).max(1)
const point = z.tuple([coordinate, coordinate])

/** Whether zod has already accepted every vertex, so the geometry can trust the numbers. */
function isWellFormedPolygon(points: unknown): points is Polygon {
  return (
    Array.isArray(points) &&
    points.length >= ANALYTICS_LIMITS.minPolygonPoints &&
    points.length <= ANALYTICS_LIMITS.maxPolygonPoints &&
    points.every(
      (p: unknown) =>
        Array.isArray(p) &&
        p.length === 2 &&
        p.every((c: unknown) => typeof c === 'number' && Number.isFinite(c) && c >= 0 && c <= 1),
    )
  )
}

/**
 * A zone or mask outline: 3..100 vertices in relative coordinates, not crossing or touching itself
 * (see `isSelfIntersecting`): a bow-tie has no sensible inside, and an operator who drew one meant
 * something else. zod checks each vertex before the count, so an oversized list costs a pass over
 * its elements (the 1 MiB HTTP body and 256 KiB MQTT payload limits bound that), but `abort` keeps
 * the O(n²) geometry and one issue per element away from it.
 */
const polygon = z
  .array(point)
  .min(ANALYTICS_LIMITS.minPolygonPoints)
  .max(ANALYTICS_LIMITS.maxPolygonPoints, { abort: true })
  .superRefine((points, ctx) => {
    // zod runs this even when a vertex failed; the vertex's own issue says what is wrong.
    if (!isWellFormedPolygon(points)) return
    if (isSelfIntersecting(points as Point[])) {
      ctx.addIssue({
        code: 'custom',
        message:
          'polygon must not cross or touch itself, double back along an edge, or repeat a vertex ' +
          '(do not repeat the first point at the end)',
      })
    }
  })

const masks = z.array(polygon).max(ANALYTICS_LIMITS.maxMasks)

/** A label the model knows; the message names the unknown label (cut and cleaned, it is untrusted). */
function labelSchema(knownLabels: ReadonlySet<string> | null) {
  return z
    .string()
    .min(1)
    .max(ANALYTICS_LIMITS.maxLabelLength, { abort: true })
    .superRefine((label, ctx) => {
      if (knownLabels === null) {
        // Any label (the agent's wire copy, checked against its model when the model loads).
        const problem = nameTextProblem(label)
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `label ${problem}` })
        return
      }
      if (knownLabels.has(label)) return
      const shown = cleanText(label, { maxLength: ANALYTICS_LIMITS.maxLabelLength })
      const lower = label.toLowerCase()
      const near = [...knownLabels].find((known) => known.toLowerCase() === lower)
      ctx.addIssue({
        code: 'custom',
        message: `unknown label "${shown}": the model does not detect it${near ? ` (did you mean "${near}"?)` : ''}`,
      })
    })
}

/** 1..100 distinct labels: a repeated label is a slip, and it would be counted twice in a UI. */
function labelListSchema(knownLabels: ReadonlySet<string> | null) {
  return z
    .array(labelSchema(knownLabels))
    .min(1)
    .max(ANALYTICS_LIMITS.maxObjects, { abort: true })
    .superRefine((labels, ctx) => {
      const seen = new Set<unknown>()
      labels.forEach((label: unknown, i) => {
        // zod runs this even when an element is not a string; that element has its own issue.
        if (typeof label !== 'string') return
        if (seen.has(label)) {
          const shown = cleanText(label, { maxLength: ANALYTICS_LIMITS.maxLabelLength })
          ctx.addIssue({ code: 'custom', path: [i], message: `label "${shown}" is listed twice` })
        }
        seen.add(label)
      })
    })
}

/** The fields, undecorated: the full schema adds defaults, the PATCH schema makes each optional. */
function analyticsFields(knownLabels: readonly string[] | null) {
  const labels = labelListSchema(knownLabels === null ? null : new Set(knownLabels))
  const zone = z.strictObject({
    name: zoneName,
    polygon,
    /** Absent: every object the camera detects. Present: at least one (an empty list means nothing). */
    objects: labels.optional(),
    /** Consecutive frames an object must be in the zone before it counts (Frigate's inertia). */
    inertia: z
      .number()
      .int()
      .min(ANALYTICS_LIMITS.minInertia)
      .max(ANALYTICS_LIMITS.maxInertia)
      .default(ANALYTICS_DEFAULTS.inertia),
    /**
     * Seconds an object may stay in the zone before it is loitering (its event says so, once per
     * stay); 0: never. Entering the zone is reported at once either way (after `inertia`).
     */
    loiterSeconds: z
      .number()
      .int()
      .min(0)
      .max(ANALYTICS_LIMITS.maxLoiterSeconds)
      .default(ANALYTICS_DEFAULTS.loiterSeconds),
  })
  const zones = z
    .array(zone)
    .max(ANALYTICS_LIMITS.maxZones, { abort: true })
    .superRefine((list, ctx) => {
      const first = new Map<string, number>()
      list.forEach((zone, i) => {
        if (typeof zone?.name !== 'string') return
        const key = zoneNameKey(zone.name)
        const earlier = first.get(key)
        if (earlier === undefined) first.set(key, i)
        else
          ctx.addIssue({
            code: 'custom',
            path: [i, 'name'],
            message: `zone name duplicates zone ${earlier} (names are compared ignoring case)`,
          })
      })
    })
  return {
    enabled: z.boolean(),
    /** Absent: the sub stream when the camera has one (see `resolveAnalyticsStream`). */
    stream: streamRole,
    /** Frames decoded and run through the detector per second: Frigate's 5 is the sweet spot. */
    fps: z.number().int().min(ANALYTICS_LIMITS.minFps).max(ANALYTICS_LIMITS.maxFps),
    model: modelId,
    objects: labels,
    /** A detection scoring below this is dropped in the frame it appears in. */
    minScore: fraction,
    /** A tracked object counts as real once its median score reaches this (Frigate's threshold). */
    threshold: fraction,
    /** Smallest box, as a fraction of the frame's area, that counts. */
    minArea: fraction,
    /** Largest box, as a fraction of the frame's area, that counts; absent: no limit. */
    maxArea: z.number().gt(0).max(1),
    zones,
    /** Areas where motion is ignored (a clock, trees): no detection starts there. */
    motionMasks: masks,
    /** Areas where an object's bottom-centre is ignored (a poster of a person). */
    objectMasks: masks,
    /** What gates detection and measures motion time: the agent's pixel motion or the camera's. */
    motionSource,
  }
}

type ZoneLike = { objects?: unknown }

/**
 * Rules across fields, checked when both fields are at hand: a zone naming an object the camera
 * does not detect never fires (Frigate refuses it too), and `maxArea` not above `minArea` lets
 * nothing through.
 */
function checkAcrossFields(
  value: { objects?: unknown; zones?: unknown; minArea?: unknown; maxArea?: unknown },
  ctx: z.RefinementCtx,
): void {
  if (Array.isArray(value.objects) && Array.isArray(value.zones)) {
    const tracked = new Set<unknown>(value.objects)
    ;(value.zones as ZoneLike[]).forEach((zone, i) => {
      if (!Array.isArray(zone?.objects)) return
      zone.objects.forEach((label: unknown, j: number) => {
        if (typeof label === 'string' && !tracked.has(label)) {
          ctx.addIssue({
            code: 'custom',
            path: ['zones', i, 'objects', j],
            message: `zone object "${cleanText(label, { maxLength: 64 })}" is not among the camera's objects, so the zone would never see it`,
          })
        }
      })
    })
  }
  if (
    typeof value.minArea === 'number' &&
    typeof value.maxArea === 'number' &&
    value.maxArea <= value.minArea
  ) {
    ctx.addIssue({ code: 'custom', path: ['maxArea'], message: 'maxArea must be above minArea' })
  }
}

/**
 * The schema of a camera's `analytics` object, given the labels of the model it names (the hub
 * looks the model up first; `COCO_LABELS` for "default"); `null` accepts any well-formed label (the
 * copy in an agent's configuration: the agent checks the labels against the model it loads). Unknown keys are refused, so a misspelt
 * `loiter_seconds` is an error rather than a silently applied default.
 */
export function analyticsConfigSchema(knownLabels: readonly string[] | null) {
  const f = analyticsFields(knownLabels)
  return z
    .strictObject({
      enabled: f.enabled.default(ANALYTICS_DEFAULTS.enabled),
      stream: f.stream.optional(),
      fps: f.fps.default(ANALYTICS_DEFAULTS.fps),
      model: f.model.default(ANALYTICS_DEFAULTS.model),
      objects: f.objects.default(() => [...ANALYTICS_DEFAULTS.objects]),
      minScore: f.minScore.default(ANALYTICS_DEFAULTS.minScore),
      threshold: f.threshold.default(ANALYTICS_DEFAULTS.threshold),
      minArea: f.minArea.default(ANALYTICS_DEFAULTS.minArea),
      maxArea: f.maxArea.optional(),
      zones: f.zones.default(() => []),
      motionMasks: f.motionMasks.default(() => []),
      objectMasks: f.objectMasks.default(() => []),
      motionSource: f.motionSource.default(ANALYTICS_DEFAULTS.motionSource),
    })
    .superRefine(checkAcrossFields)
}

/**
 * The schema of a PATCH to a camera's `analytics` (JSON merge patch, RFC 7396): a field absent is
 * left as stored, `null` returns it to its default, anything else replaces it and is validated as
 * in the full schema. Lists (`zones`, masks, `objects`) are replaced whole: merging zones by index
 * or name would make "delete a zone" inexpressible. Defaults are deliberately not applied here
 * (they would overwrite stored values); cross-field rules are checked when both fields are in the
 * patch, and the hub re-parses the merged result (`mergeAnalyticsConfig`) with the full schema to
 * check them against the stored ones.
 */
export function analyticsConfigPatchSchema(knownLabels: readonly string[] | null) {
  const f = analyticsFields(knownLabels)
  return z
    .strictObject({
      enabled: f.enabled.nullish(),
      stream: f.stream.nullish(),
      fps: f.fps.nullish(),
      model: f.model.nullish(),
      objects: f.objects.nullish(),
      minScore: f.minScore.nullish(),
      threshold: f.threshold.nullish(),
      minArea: f.minArea.nullish(),
      maxArea: f.maxArea.nullish(),
      zones: f.zones.nullish(),
      motionMasks: f.motionMasks.nullish(),
      objectMasks: f.objectMasks.nullish(),
      motionSource: f.motionSource.nullish(),
    })
    .superRefine(checkAcrossFields)
}

/** A camera's analytics configuration with defaults applied (`stream` may still be absent). */
export type AnalyticsConfig = z.output<ReturnType<typeof analyticsConfigSchema>>
/** What a client may send: every field with a default optional. */
export type AnalyticsConfigInput = z.input<ReturnType<typeof analyticsConfigSchema>>
export type AnalyticsZone = AnalyticsConfig['zones'][number]
/** A parsed PATCH: absent = keep, null = back to the default. */
export type AnalyticsConfigPatch = z.output<ReturnType<typeof analyticsConfigPatchSchema>>

/**
 * The stored configuration with a parsed PATCH applied, ready to be parsed again with
 * `analyticsConfigSchema` (which re-applies the defaults of the fields the patch nulled and checks
 * the rules across fields).
 */
export function mergeAnalyticsConfig(
  current: AnalyticsConfig,
  patch: AnalyticsConfigPatch,
): AnalyticsConfigInput {
  const merged: Record<string, unknown> = { ...current }
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key]
    else if (value !== undefined) merged[key] = value
  }
  return merged as AnalyticsConfigInput
}

/**
 * The stream the agent decodes for analytics: the configured one, else the sub stream when the
 * camera has one (small frames are all a detector needs, and decoding them is cheap), else the main
 * stream. An explicit choice is returned as is, even "sub" on a camera without one: the caller
 * reports a missing stream like any other, rather than silently decoding the far costlier main one.
 */
export function resolveAnalyticsStream(
  config: { stream?: StreamRole | undefined },
  hasSub: boolean,
): StreamRole {
  return config.stream ?? (hasSub ? 'sub' : 'main')
}

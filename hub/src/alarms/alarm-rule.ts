import { cleanText } from '@ts-vms/shared'
import { z } from 'zod'
import { weeklySchedule } from './weekly-schedule.ts'

/**
 * Alarm rules (issue 16): what the hub watches across the fleet, per tenant, scoped to the
 * tenant, a site or a camera. The kinds and their parameters are the issue's (exact names); every
 * parameter has a default, so `"params": {}` is a working rule.
 *
 * A rule's kind decides what its alarms are about (their target): a camera (`camera.offline`,
 * `recording.gap`, `recording.stopped`, `retention.short`, `object.zone`), an agent (`disk.full`,
 * `outbox.backlog`, `clock.drift`, `agent.offline`) or the tenant (`license.expiring`).
 */
export const ALARM_KINDS = [
  'camera.offline',
  'recording.gap',
  'recording.stopped',
  'disk.full',
  'retention.short',
  'outbox.backlog',
  'clock.drift',
  'agent.offline',
  'license.expiring',
  'object.zone',
] as const
export type AlarmKind = (typeof ALARM_KINDS)[number]

export type TargetType = 'camera' | 'agent' | 'tenant'

export const TARGET_OF: Record<AlarmKind, TargetType> = {
  'camera.offline': 'camera',
  'recording.gap': 'camera',
  'recording.stopped': 'camera',
  'disk.full': 'agent',
  'retention.short': 'camera',
  'outbox.backlog': 'agent',
  'clock.drift': 'agent',
  'agent.offline': 'agent',
  'license.expiring': 'tenant',
  'object.zone': 'camera',
}

const seconds = (fallback: number, min = 1, max = 7 * 86_400) =>
  z.number().int().min(min).max(max).default(fallback)

/** A label or zone name as the analytics configuration has them (compared exactly). */
const analyticsName = z
  .string()
  .max(64, { abort: true })
  .transform((v) => cleanText(v, { maxLength: 64 }).trim())
  .pipe(z.string().min(1, 'required'))

/** Each kind's parameters, with the issue's defaults. */
export const PARAMS = {
  'camera.offline': z
    .object({ seconds: seconds(60).describe('How long no stream of the camera streams') })
    .strict(),
  'recording.gap': z
    .object({
      seconds: seconds(10).describe('Shortest gap in the recording that counts'),
      quietSeconds: seconds(600, 10).describe('Closes after this long without a new gap'),
    })
    .strict(),
  'recording.stopped': z
    .object({ seconds: seconds(60).describe('How long the camera streams with nothing written') })
    .strict(),
  'disk.full': z
    .object({
      percent: z
        .number()
        .min(1)
        .max(100)
        .default(90)
        .describe("Use of the agent's disk, or share of its recording quota held by evidence locks"),
    })
    .strict(),
  'retention.short': z
    .object({
      days: z
        .number()
        .int()
        .min(1)
        .max(3650)
        .optional()
        .describe("Days that must be kept; absent: the camera's configured retention"),
    })
    .strict(),
  'outbox.backlog': z
    .object({ seconds: seconds(300).describe("Age of the oldest record waiting in the agent's outbox") })
    .strict(),
  'clock.drift': z
    .object({
      seconds: z.number().min(0.1).max(86_400).default(2).describe("The agent's clock against the hub's"),
      forSeconds: seconds(30, 0).describe(
        'How long the drift must persist (one delayed message is not a drift)',
      ),
    })
    .strict(),
  'agent.offline': z.object({ seconds: seconds(120).describe('How long the agent has been away') }).strict(),
  'license.expiring': z
    .object({ days: z.number().int().min(1).max(365).default(14).describe('Days before expiry') })
    .strict(),
  'object.zone': z
    .object({
      label: analyticsName.describe('The object label, e.g. person'),
      zone: analyticsName.describe('The zone name, e.g. stockroom'),
      schedule: weeklySchedule
        .default([])
        .describe("When the rule applies, in the site's time zone; empty: always"),
      loitering: z.boolean().default(false).describe('Only objects loitering in the zone'),
    })
    .strict(),
} satisfies Record<AlarmKind, z.ZodType>

export type AlarmParams<K extends AlarmKind> = z.output<(typeof PARAMS)[K]>

export const ruleScope = z.discriminatedUnion('type', [
  z.object({ type: z.literal('tenant') }).strict(),
  z.object({ type: z.literal('site'), id: z.uuid() }).strict(),
  z.object({ type: z.literal('camera'), id: z.uuid() }).strict(),
])
export type RuleScope = z.infer<typeof ruleScope>

export const ruleName = z
  .string()
  .max(200, { abort: true })
  .transform((v) => cleanText(v, { maxLength: 200 }).trim())
  .pipe(z.string().min(1, 'a name is required'))

/** A stored rule, as the engine reads it. */
export interface AlarmRule {
  id: string
  tenantId: string
  name: string
  kind: AlarmKind
  scope: RuleScope
  params: Record<string, unknown>
  priority: 1 | 2 | 3
  channels: string[]
  enabled: boolean
}

/** The rule's parameters, checked and with defaults; a stored rule always parses. */
export function paramsOf<K extends AlarmKind>(rule: { kind: K; params: unknown }): AlarmParams<K> {
  return PARAMS[rule.kind].parse(rule.params ?? {}) as AlarmParams<K>
}

/** A rule's parameters checked against its kind: the issues as `params.<field>` paths. */
export function checkParams(
  kind: AlarmKind,
  params: unknown,
): { ok: true; params: Record<string, unknown> } | { ok: false; issues: z.core.$ZodIssue[] } {
  const parsed = PARAMS[kind].safeParse(params ?? {})
  if (parsed.success) return { ok: true, params: parsed.data as Record<string, unknown> }
  return {
    ok: false,
    issues: parsed.error.issues.map((i) => ({ ...i, path: ['params', ...i.path] })),
  }
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeEventCursor, encodeEventCursor } from '../../src/http/event-cursor.ts'
import { createTenantWithAdmin, startTestHub, type TestHub, userWithRole } from '../helpers/test-hub.ts'

/**
 * The events list at scale (issue 17): keyset pages (`before` / `nextBefore`) alongside `offset`,
 * cursors refused when they are not the API's own, a site- or camera-scoped user's pages never
 * showing other sites, and `total` capped at 10,000 (`totalExact`).
 */
let t: TestHub
let acme: Awaited<ReturnType<typeof createTenantWithAdmin>>
const ids: Record<string, string> = {}
const tokens: Record<string, string> = {}

interface Page {
  items: { id: string; siteId: string | null; cameraId: string | null; type: string; time: string }[]
  total: number
  totalExact: boolean
  nextBefore: string | null
}

const list = async (token: string, query: Record<string, string>) => {
  const res = await t.request<Page>('GET', `/api/v1/events?${new URLSearchParams(query)}`, { token })
  expect(res.status, res.text).toBe(200)
  return res.body
}

/** Every page of a list by cursor: the ids in order, and each page's total. */
async function walk(token: string, query: Record<string, string>, limit: number) {
  const seen: string[] = []
  const totals: number[] = []
  let before: string | null = null
  for (let pages = 0; pages < 1000; pages++) {
    const page: Page = await list(token, { ...query, limit: String(limit), ...(before ? { before } : {}) })
    seen.push(...page.items.map((e) => e.id))
    totals.push(page.total)
    before = page.nextBefore
    if (!before) {
      expect(page.items.length).toBeLessThanOrEqual(limit)
      return { seen, totals, pages: pages + 1 }
    }
    expect(page.items.length).toBe(limit)
  }
  throw new Error('the cursor never reached the end')
}

/** The ids the list must show, in its order, from the database itself. */
async function expected(where: string, params: unknown[]): Promise<string[]> {
  const { rows } = await t.db.adminQuery<{ id: string }>(
    `select id from events where ${where} order by time desc, id desc`,
    params,
  )
  return rows.map((r) => String(r.id))
}

const BASE = '2026-11-20T10:00:00.000Z'

/**
 * `count` events of a site (and, every third, of `cameraId`): in groups of four sharing one time
 * to the microsecond, and groups a microsecond apart (within one millisecond), so pages split
 * equal times and times a JavaScript Date cannot tell apart.
 */
async function insertEvents(
  tenantId: string,
  siteId: string,
  cameraId: string | null,
  count: number,
  offsetSeconds: number,
) {
  await t.db.adminQuery(
    `insert into events (tenant_id, site_id, camera_id, type, time, data)
     select $1, $2, case when g % 3 = 0 then $3::uuid end,
            case when g % 5 = 0 then 'camera.offline' else 'motion' end,
            $4::timestamptz - make_interval(secs => $5::float8 + (g / 12)) - (((g / 4) % 3) * interval '1 microsecond'),
            jsonb_build_object('n', g)
     from generate_series(1, $6::int) g`,
    [tenantId, siteId, cameraId, BASE, offsetSeconds, count],
  )
}

beforeAll(async () => {
  t = await startTestHub()
  acme = await createTenantWithAdmin(t, 'acme')
  for (const name of ['North', 'South'])
    ids[name] = (await t.request('POST', '/api/v1/sites', { token: acme.token, body: { name } })).body.id
  for (const [name, site] of [
    ['Door', 'North'],
    ['Yard', 'South'],
  ] as const) {
    const res = await t.request('POST', '/api/v1/cameras', {
      token: acme.token,
      body: { name, siteId: ids[site] },
    })
    expect(res.status, res.text).toBe(201)
    ids[name] = res.body.id
  }
  // Interleaved in time: North and South events alternate by the second.
  await insertEvents(acme.tenantId, ids.North as string, ids.Door as string, 61, 0)
  await insertEvents(acme.tenantId, ids.South as string, ids.Yard as string, 47, 0.5)
  // An event of no site (the hub's own agent.offline of a removed agent, say).
  await t.db.adminQuery(
    `insert into events (tenant_id, type, time) values ($1, 'agent.offline', $2::timestamptz - interval '3 seconds')`,
    [acme.tenantId, BASE],
  )
  tokens.admin = acme.token
  tokens.north = (
    await userWithRole(t, 'acme', acme.token, 'north-op', 'operator', { type: 'site', id: ids.North })
  ).token
  tokens.yard = (
    await userWithRole(t, 'acme', acme.token, 'yard-viewer', 'viewer', { type: 'camera', id: ids.Yard })
  ).token
})

afterAll(async () => {
  await t?.close()
})

describe('events by cursor', () => {
  it('walks every event once, in order, across equal times and microseconds', async () => {
    const want = await expected('tenant_id = $1', [acme.tenantId])
    expect(want.length).toBe(109)
    // The data has what the cursor must cope with: times shared by several events, and times
    // that differ by microseconds only.
    const { rows } = await t.db.adminQuery<{ shared: number; times: number; ms: number }>(
      `select count(*) filter (where n > 1)::int as shared, count(*)::int as times,
              count(distinct date_trunc('milliseconds', time))::int as ms
       from (select time, count(*) as n from events where tenant_id = $1 group by time) g`,
      [acme.tenantId],
    )
    expect(rows[0]?.shared).toBeGreaterThan(10)
    expect(rows[0]?.ms).toBeLessThan((rows[0]?.times ?? 0) - 5)
    for (const limit of [1, 4, 7, 50, 500]) {
      const { seen, totals } = await walk(tokens.admin as string, {}, limit)
      expect(seen, `limit ${limit}`).toEqual(want)
      expect(new Set(totals)).toEqual(new Set([109]))
    }
  })

  it('pages a filtered list the same way, and the cursor never widens the filter', async () => {
    const query = {
      siteId: ids.North as string,
      type: 'motion',
      from: new Date(Date.parse(BASE) - 4_000).toISOString(),
      to: BASE,
    }
    const want = await expected(
      "site_id = $1 and type = 'motion' and time >= $2::timestamptz - interval '4 seconds' and time < $2",
      [ids.North, BASE],
    )
    expect(want.length).toBeGreaterThan(10)
    const { seen, totals } = await walk(tokens.admin as string, query, 3)
    expect(seen).toEqual(want)
    expect(new Set(totals)).toEqual(new Set([want.length]))

    const camera = await walk(tokens.admin as string, { cameraId: ids.Door as string }, 5)
    expect(camera.seen).toEqual(await expected('camera_id = $1', [ids.Door]))
  })

  it('continues an offset page with its cursor, and refuses before with a non-zero offset', async () => {
    const byOffset = await list(tokens.admin as string, { limit: '10', offset: '20' })
    const next = await list(tokens.admin as string, { limit: '10', before: byOffset.nextBefore as string })
    const same = await list(tokens.admin as string, { limit: '10', offset: '30' })
    expect(next.items.map((e) => e.id)).toEqual(same.items.map((e) => e.id))
    expect(next.items).toHaveLength(10)
    // The fields the list always had keep their names.
    expect(Object.keys(next).sort()).toEqual(['items', 'nextBefore', 'total', 'totalExact'])

    const zero = await list(tokens.admin as string, {
      limit: '10',
      offset: '0',
      before: byOffset.nextBefore as string,
    })
    expect(zero.items.map((e) => e.id)).toEqual(same.items.map((e) => e.id))
    const both = await t.request(
      'GET',
      `/api/v1/events?offset=5&before=${encodeURIComponent(byOffset.nextBefore as string)}`,
      { token: tokens.admin },
    )
    expect(both.status).toBe(400)
    expect(both.body.error.message).toMatch(/before and offset/)
  })

  it('says where the list ends: no cursor on the last page, and none on an empty one', async () => {
    const all = await list(tokens.admin as string, { limit: '500' })
    expect(all.items).toHaveLength(109)
    expect(all.nextBefore).toBeNull()
    const exact = await list(tokens.admin as string, { limit: '109' })
    expect(exact.nextBefore).toBeNull()
    const oneShort = await list(tokens.admin as string, { limit: '108' })
    expect(oneShort.nextBefore).not.toBeNull()
    const past = await list(tokens.admin as string, { before: oneShort.nextBefore as string })
    expect(past.items.map((e) => e.id)).toEqual([all.items.at(-1)?.id])
    expect(past.nextBefore).toBeNull()
    const none = await list(tokens.admin as string, { type: 'no-such-type' })
    expect(none).toEqual({ items: [], total: 0, totalExact: true, nextBefore: null })
  })

  it('answers a malformed or hostile cursor with 400, never 500', async () => {
    const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64url')
    const hostile = [
      '',
      'not-a-cursor',
      '%ED%A0%80',
      '%EF%BF%BD',
      '%00',
      b64('1.2') + '%00',
      '%ED%A0%80%ED%A0%80%ED%A0%80',
      '%uD800',
      'A'.repeat(4000),
      b64("1.2'; drop table events; --"),
      b64('-99999999999999999999.1'),
      b64('1.99999999999999999999'),
      b64('1.0'),
      b64('NaN.1'),
      encodeURIComponent(b64('1.2').padEnd(8, '=')),
    ]
    for (const raw of hostile) {
      const res = await t.request('GET', `/api/v1/events?before=${raw}`, { token: tokens.admin })
      expect(res.status, `${raw.slice(0, 40)}: ${res.text}`).toBe(400)
      // NUL is refused for the whole request before the route sees it; the rest by the route.
      expect(res.body.error.message).toMatch(/before|NUL character/)
    }
    // Twice: an array, not a cursor.
    const cursor = encodeEventCursor({ timeUs: 1n, id: '1' })
    const twice = await t.request('GET', `/api/v1/events?before=${cursor}&before=${cursor}`, {
      token: tokens.admin,
    })
    expect(twice.status).toBe(400)
    // Well formed but naming no event: a position like any other (the times before it).
    const farFuture = await list(tokens.admin as string, {
      before: encodeEventCursor({ timeUs: 253_402_300_799_999_999n, id: '9223372036854775807' }),
      limit: '500',
    })
    expect(farFuture.items).toHaveLength(109)
    const epoch = await list(tokens.admin as string, { before: encodeEventCursor({ timeUs: 0n, id: '1' }) })
    expect(epoch.items).toEqual([])
    const events = await t.db.adminQuery('select count(*)::int as n from events')
    expect(events.rows[0]?.n).toBe(109)
  })
})

describe('events by cursor for a scoped user', () => {
  it("shows a site-scoped operator only the site's events on every page", async () => {
    const want = await expected('site_id = $1', [ids.North])
    const { seen, totals } = await walk(tokens.north as string, {}, 6)
    expect(seen).toEqual(want)
    expect(new Set(totals)).toEqual(new Set([want.length]))
  })

  it("shows a camera-scoped viewer only that camera's events on every page", async () => {
    const want = await expected('camera_id = $1 and site_id = $2', [ids.Yard, ids.South])
    expect(want.length).toBeGreaterThan(5)
    const { seen } = await walk(tokens.yard as string, {}, 4)
    expect(seen).toEqual(want)
  })

  it("never reveals another site through a cursor, made from another site's event or by hand", async () => {
    const { rows } = await t.db.adminQuery<{ id: string; time_us: string }>(
      `select id, (extract(epoch from time) * 1000000)::bigint::text as time_us from events
       where site_id = $1 order by time desc, id desc offset 10 limit 1`,
      [ids.South],
    )
    const south = rows[0] as { id: string; time_us: string }
    const cursor = encodeEventCursor({ timeUs: BigInt(south.time_us), id: String(south.id) })
    const want = await expected(`site_id = $1 and (time, id) < (select time, id from events where id = $2)`, [
      ids.North,
      south.id,
    ])
    const page = await list(tokens.north as string, { before: cursor, limit: '500' })
    expect(page.items.map((e) => e.id)).toEqual(want)
    expect(page.items.every((e) => e.siteId === ids.North)).toBe(true)
    // A cursor the API hands the operator names one of the operator's events, never another's.
    let before: string | null = null
    const northIds = new Set(await expected('site_id = $1', [ids.North]))
    do {
      const p: Page = await list(tokens.north as string, { limit: '5', ...(before ? { before } : {}) })
      before = p.nextBefore
      if (before) expect(northIds.has(decodeEventCursor(before)?.id as string)).toBe(true)
    } while (before)
  })
})

describe('the capped total', () => {
  it('counts exactly up to 10,000 and says when there are more', async () => {
    const bulk = await createTenantWithAdmin(t, 'bulk')
    await t.db.adminQuery(
      `insert into events (tenant_id, type, time)
       select $1, case when g = 10001 then 'agent.online' else 'motion' end, $2::timestamptz - g * interval '1 second'
       from generate_series(1, 10001) g`,
      [bulk.tenantId, BASE],
    )
    const all = await list(bulk.token, { limit: '5' })
    expect(all).toMatchObject({ total: 10_000, totalExact: false })
    expect(all.items).toHaveLength(5)
    expect(await list(bulk.token, { type: 'motion', limit: '1' })).toMatchObject({
      total: 10_000,
      totalExact: true,
    })
    expect(await list(bulk.token, { type: 'agent.online' })).toMatchObject({ total: 1, totalExact: true })
    // The cap is the count's, not the list's: the cursor still reaches the last event.
    const deep = await list(bulk.token, { offset: '9999', limit: '1' })
    const last = await list(bulk.token, { before: deep.nextBefore as string })
    expect(last.items.map((e) => e.type)).toEqual(['agent.online'])
    expect(last).toMatchObject({ total: 10_000, totalExact: false, nextBefore: null })
    // Another tenant's admin counts their own.
    expect(await list(tokens.admin as string, { limit: '1' })).toMatchObject({ total: 109, totalExact: true })
  })
})

import { createHash } from 'node:crypto'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { chromiumAvailable } from '../../scripts/lib/chromium.ts'
import {
  consoleSuite,
  expectAccessible,
  expectNoHorizontalScroll,
  navLinks,
  openConsole,
  screenshot,
  signIn,
} from './helpers/console-browser.ts'
import { enrollmentCode } from './helpers/enrollment.ts'
import {
  ADMIN_PASSWORD,
  startTestHub,
  type TestHub,
  USER_PASSWORD,
  userWithRole,
} from './helpers/test-hub.ts'

/**
 * The console's Models page (issue 13) in Debian's Chromium against a real hub: the list (the
 * built-in `default` first, then the tenant's models with the cameras naming them), uploading a
 * model (the hub really loads it with onnxruntime and checks its shapes), the hub's refusals shown
 * readably, deleting behind a confirmation (refused while a camera names the model), and what a
 * viewer sees. The real detector may be absent, so the model uploaded is built here: a valid ONNX
 * graph whose one Reshape turns the image input [1, 3, 32, 32] into a YOLOv8 output [1, 6, 512]
 * (4 + 2 classes, 512 anchors).
 */

// A minimal protobuf writer, enough for an ONNX ModelProto (onnx/onnx.proto field numbers).
const varint = (n: number | bigint): number[] => {
  const out: number[] = []
  let v = BigInt(n)
  do {
    let b = Number(v & 0x7fn)
    v >>= 7n
    if (v) b |= 0x80
    out.push(b)
  } while (v)
  return out
}
const field = (n: number, data: number[]) => [...varint((n << 3) | 2), ...varint(data.length), ...data]
const text = (n: number, s: string) => field(n, [...new TextEncoder().encode(s)])
const int = (n: number, v: number) => [...varint(n << 3), ...varint(v)]
const FLOAT = 1
const INT64 = 7
/** ValueInfoProto { name, type: TypeProto { tensor_type { elem_type: FLOAT, shape } } }. */
const tensorInfo = (name: string, dims: number[]) => [
  ...text(1, name),
  ...field(
    2,
    field(1, [
      ...int(1, FLOAT),
      ...field(
        2,
        dims.flatMap((d) => field(1, int(1, d))),
      ),
    ]),
  ),
]

/** An ONNX model (IR 8, opset 13) whose graph reshapes `images` of `input` into `output` of `shape`. */
function reshapeModel(input: number[], shape: number[]): Buffer {
  const shapeBytes = shape.flatMap((d) => {
    const b = Buffer.alloc(8)
    b.writeBigInt64LE(BigInt(d))
    return [...b]
  })
  const initializer = [
    ...int(1, shape.length),
    ...int(2, INT64),
    ...text(8, 'shape'),
    ...field(9, shapeBytes),
  ]
  const node = [
    ...text(1, 'images'),
    ...text(1, 'shape'),
    ...text(2, 'output'),
    ...text(3, 'reshape'),
    ...text(4, 'Reshape'),
  ]
  const graph = [
    ...field(1, node),
    ...text(2, 'tiny'),
    ...field(5, initializer),
    ...field(11, tensorInfo('images', input)),
    ...field(12, tensorInfo('output', shape)),
  ]
  return Buffer.from([
    ...int(1, 8),
    ...text(2, 'ts-vms-test'),
    ...field(7, graph),
    ...field(8, [...text(1, ''), ...int(2, 13)]),
  ])
}

const TINY = reshapeModel([1, 3, 32, 32], [1, 6, 512])
const TINY_SHA = createHash('sha256').update(TINY).digest('hex')

const ADMIN = { tenant: 'system', username: 'admin', password: ADMIN_PASSWORD }
const VIEWER = { tenant: 'system', username: 'model-viewer', password: USER_PASSWORD }
let t: TestHub
let adminToken: string
let cameraId: string

const suite = consoleSuite(
  'models',
  async () => {
    t = await startTestHub({}, { systemLicense: true })
    adminToken = await t.adminToken()
    const code = await enrollmentCode(t, 'Depot')
    const enrolled = await t.request('POST', '/api/v1/enroll', {
      body: { code: code.code, name: 'depot-agent' },
    })
    expect(enrolled.status, enrolled.text).toBe(201)
    const camera = await t.request('POST', '/api/v1/cameras', {
      token: adminToken,
      body: {
        name: 'Gate',
        siteId: code.siteId,
        agentId: enrolled.body.agentId,
        streams: [{ role: 'main', url: 'rtsp://10.0.0.1/gate' }],
      },
    })
    expect(camera.status, camera.text).toBe(201)
    cameraId = camera.body.id
    await userWithRole(t, 'system', adminToken, VIEWER.username, 'viewer', { type: 'tenant' })
  },
  async () => {
    await t?.close()
  },
)

const heading = (page: Page) => page.getByRole('heading', { name: 'Models', level: 1 })
const table = (page: Page) => page.getByRole('table', { name: 'Models' })
const row = (page: Page, id: string) =>
  table(page)
    .getByRole('row')
    .filter({ has: page.getByRole('rowheader', { name: new RegExp(`^${id}\\b`) }) })

async function chooseFile(page: Page, name: string, buffer: Buffer) {
  await page.getByLabel('Model file', { exact: true }).setInputFiles({
    name,
    mimeType: 'application/octet-stream',
    buffer,
  })
}

async function setCameraModel(model: string, objects: string[]) {
  const res = await t.request('PATCH', `/api/v1/cameras/${cameraId}`, {
    token: adminToken,
    body: { analytics: { model, objects } },
  })
  expect(res.status, res.text).toBe(200)
}

describe.skipIf(!chromiumAvailable)('console models page in Chromium', () => {
  it('lists the built-in model, uploads a model, and shows the hub’s refusals readably', async () => {
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/live')
    const links = await navLinks(page)
    expect(links.slice(links.indexOf('Cameras'), links.indexOf('Cameras') + 2)).toEqual(['Cameras', 'Models'])
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models' }).click()
    await heading(page).waitFor()
    expect(new URL(page.url()).pathname).toBe('/admin/models')
    await page.getByText('The built-in model and 0 uploaded models', { exact: true }).waitFor()
    const builtIn = row(page, 'default')
    expect(await builtIn.innerText()).toMatch(/built in[\s\S]*yolox[\s\S]*80[\s\S]*person, bicycle, car/)
    // Gate names `default` (the camera's default analytics configuration).
    expect(await builtIn.innerText()).toMatch(/Gate/)
    // The built-in model cannot be deleted: no button for it.
    expect(await page.getByRole('button', { name: 'Delete model default' }).count()).toBe(0)
    await expectAccessible(page)

    // Upload: the id comes from the file name, the labels one per line.
    await chooseFile(page, 'tiny.onnx', TINY)
    expect(await page.getByLabel('Model id', { exact: true }).inputValue()).toBe('tiny')
    await page.getByLabel('Format', { exact: true }).selectOption('yolov8')
    await page.getByLabel('Labels (one per line, blank: COCO)', { exact: true }).fill('cat\ndog\n')
    await page.getByRole('button', { name: 'Upload model' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: 'Uploaded model tiny (yolov8, 2 labels' })
      .waitFor({ timeout: 30_000 })
    const tiny = row(page, 'tiny')
    await tiny.waitFor()
    const cells = await tiny.innerText()
    expect(cells).toMatch(/yolov8/)
    expect(cells).toMatch(/2: cat, dog/)
    expect(cells).toMatch(new RegExp(`${TINY.length} B`))
    expect(cells).toContain(`${TINY_SHA.slice(0, 12)}…`)
    expect(cells).toMatch(/no camera/)
    const stored = await t.request('GET', '/api/v1/models/tiny', { token: adminToken })
    expect(stored.body).toMatchObject({
      id: 'tiny',
      format: 'yolov8',
      labels: ['cat', 'dog'],
      sha256: TINY_SHA,
    })
    // The form is empty again.
    expect(await page.getByLabel('Model id', { exact: true }).inputValue()).toBe('')
    expect(await page.getByLabel('Format', { exact: true }).inputValue()).toBe('yolox')

    // The same file said to be YOLOX: the hub's shape check, in its words.
    await chooseFile(page, 'tiny.onnx', TINY)
    await page.getByLabel('Model id', { exact: true }).fill('tiny-x')
    await page.getByLabel('Format', { exact: true }).selectOption('yolox')
    await page.getByLabel('Labels (one per line, blank: COCO)', { exact: true }).fill('cat\ndog')
    await page.getByRole('button', { name: 'Upload model' }).click()
    const alert = page.getByRole('alert').filter({ hasText: 'The hub refused the model' })
    await alert.waitFor({ timeout: 30_000 })
    expect(await alert.innerText()).toMatch(/a YOLOX model with 2 labels has rows of 5 \+ 2 = 7/)
    expect(await alert.innerText()).toMatch(/is the format yolov8\?/)

    // A file that is not a model at all.
    await chooseFile(page, 'notes.onnx', Buffer.from('not an onnx model at all'))
    await page.getByLabel('Model id', { exact: true }).fill('junk')
    await page.getByRole('button', { name: 'Upload model' }).click()
    await alert.filter({ hasText: 'not an ONNX model onnxruntime can load' }).waitFor({ timeout: 30_000 })

    // An id already taken.
    await chooseFile(page, 'tiny.onnx', TINY)
    await page.getByLabel('Model id', { exact: true }).fill('tiny')
    await page.getByLabel('Format', { exact: true }).selectOption('yolov8')
    await page.getByRole('button', { name: 'Upload model' }).click()
    await alert.filter({ hasText: 'the tenant already has a model "tiny"' }).waitFor({ timeout: 30_000 })
    await expectAccessible(page)
    expect((await t.request('GET', '/api/v1/models', { token: adminToken })).body.items).toHaveLength(2)

    // The refusals are the only failed requests.
    expect(errors).toEqual([
      expect.stringMatching(/^http 400: POST .*\/api\/v1\/models\?id=tiny-x&/),
      expect.stringMatching(/^http 400: POST .*\/api\/v1\/models\?id=junk&/),
      expect.stringMatching(/^http 409: POST .*\/api\/v1\/models\?id=tiny&/),
    ])
    await context.close()
  })

  it('shows which cameras use a model, refuses to delete it then, and deletes it after confirmation', async () => {
    await setCameraModel('tiny', ['cat'])
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, ADMIN, '/admin/models')
    await heading(page).waitFor()
    const tiny = row(page, 'tiny')
    await tiny.getByRole('cell', { name: 'Gate', exact: true }).waitFor()
    expect(await row(page, 'default').innerText()).toMatch(/no camera/)
    await screenshot(page, 'admin-models')

    // In use: the dialog says so, and the hub refuses.
    await page.getByRole('button', { name: 'Delete model tiny', exact: true }).click()
    const dialog = page.getByRole('dialog', { name: 'Delete model tiny?' })
    await dialog.waitFor()
    expect(await dialog.innerText()).toMatch(/Camera Gate uses this model/)
    await expectAccessible(page)
    await dialog.getByRole('button', { name: 'Delete model' }).click()
    const refused = page.getByRole('alert').filter({ hasText: 'Could not delete model tiny' })
    await refused.waitFor()
    expect(await refused.innerText()).toMatch(
      /cameras use this model \("Gate"\): give them another model first/,
    )
    await tiny.waitFor()

    // Cancel leaves it alone.
    await setCameraModel('default', ['person'])
    await page.reload()
    await tiny.getByText('no camera').waitFor()
    await page.getByRole('button', { name: 'Delete model tiny', exact: true }).click()
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await dialog.waitFor({ state: 'hidden' })
    expect(await tiny.count()).toBe(1)

    // Confirmed: gone.
    await page.getByRole('button', { name: 'Delete model tiny', exact: true }).click()
    await dialog.getByRole('button', { name: 'Delete model' }).click()
    await page.getByRole('status').filter({ hasText: 'Deleted model tiny.' }).waitFor()
    await tiny.waitFor({ state: 'detached' })
    await page.getByText('The built-in model and 0 uploaded models', { exact: true }).waitFor()
    const gone = await t.request('GET', '/api/v1/models/tiny', { token: adminToken })
    expect(gone.status).toBe(404)

    expect(errors).toEqual([expect.stringMatching(/^http 409: DELETE .*\/api\/v1\/models\/tiny$/)])
    await context.close()
  })

  it('fits a phone', async () => {
    const { page, context, errors } = await openConsole(suite.browser, { width: 390, height: 844 })
    await signIn(page, t.url, ADMIN, '/admin/models')
    await heading(page).waitFor()
    await row(page, 'default').waitFor()
    // The table fits too (no sideways scrolling inside its box): the phone shows fewer columns.
    const table = await page.evaluate(() => {
      const wrap = document.querySelector('.models-page .table-wrap')
      return wrap ? wrap.scrollWidth - wrap.clientWidth : -1
    })
    expect(table).toBe(0)
    await expectNoHorizontalScroll(page)
    await expectAccessible(page)
    expect(errors).toEqual([])
    await context.close()
  })

  it('shows a viewer no Models link, and a deep link only the list, without upload or delete', async () => {
    const upload = await fetch(`${t.url}/api/v1/models?id=kept&format=yolov8&labels=cat,dog`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(TINY),
    })
    expect(upload.status, await upload.text()).toBe(201)
    const { page, context, errors } = await openConsole(suite.browser)
    await signIn(page, t.url, VIEWER, '/admin/models')
    expect(await navLinks(page)).toEqual(['Live', 'Playback', 'Events', 'Health'])
    await heading(page).waitFor()
    // Anyone in the tenant may list the models (the API allows it); changing them needs camera.manage.
    await row(page, 'kept').waitFor()
    await page.getByText('Uploading and deleting models needs the camera.manage permission.').waitFor()
    expect(await page.getByRole('button', { name: /^Delete model/ }).count()).toBe(0)
    expect(await page.getByRole('button', { name: 'Upload model' }).count()).toBe(0)
    expect(await page.getByLabel('Model file').count()).toBe(0)
    await expectAccessible(page)
    // The API refuses the viewer's upload and delete all the same.
    const token = (await t.login('system', VIEWER.username, USER_PASSWORD)).accessToken
    const del = await t.request('DELETE', '/api/v1/models/kept', { token })
    expect(del.status).toBe(403)
    expect(errors).toEqual([])
    await context.close()
  })
})

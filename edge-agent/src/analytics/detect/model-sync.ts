import { createHash, randomBytes } from 'node:crypto'
import {
  createReadStream,
  createWriteStream,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs'
import { open } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { AgentModel } from '@ts-vms/shared'
import type { Logger } from 'pino'
import { hubFetch } from '../../link/hub-tls.ts'

/**
 * Installs the models the hub's configuration lists (`config.models`) into the models directory
 * where the catalog finds them (model-catalog.ts): `<id>.onnx` and `<id>.json`
 * (`{ format, labels, sha256 }`).
 *
 * - A model is downloaded from the hub over the agent's own outbound HTTPS
 *   (`GET /api/v1/agent/models/:id`, Basic auth with the agent's id and secret), streamed to a
 *   temporary file while its SHA-256 and length are checked against the configuration's, then
 *   renamed into place, its JSON last: a model is installed only whole and verified.
 * - One download at a time (a site uplink is small and the recordings share it); a failure is
 *   retried with exponential backoff, and said (`status`) so the camera's analytics error tells
 *   what is wrong instead of only "not installed".
 * - An installed model is checked against the configuration's SHA-256 from its JSON at once, and
 *   its bytes are hashed once per start (a disk can rot); a mismatch is removed and downloaded.
 * - A model no longer listed is removed (only those this installed: their JSON has `sha256`;
 *   `default` and models placed by hand are left alone).
 *
 * Nothing here throws to its caller: a model that cannot be had leaves its cameras' analytics in
 * error while everything else, recording above all, runs on.
 */
export interface ModelSyncOptions {
  modelsDir: string
  hubUrl: string
  /** The hub's certificate pin from the credentials (link/hub-tls.ts); absent: verified as usual. */
  hubPinSha256?: string | null | undefined
  agentId: string
  secret: string
  logger: Logger
  /** A model was installed, or its download failed: its cameras' analytics should try again. */
  onChange: (id: string) => void
  /** First retry delay (default 5 s), doubled per failure up to `retryMaxMs` (default 5 min). */
  retryBaseMs?: number
  retryMaxMs?: number
  /** A download that takes longer is abandoned and retried (default 10 min). */
  timeoutMs?: number
}

interface Wanted {
  model: AgentModel
  /** Failed downloads in a row, and when the next may start. */
  failures: number
  notBefore: number
}

const TMP_SUFFIX = '.download'

export class ModelSync {
  private readonly wanted = new Map<string, Wanted>()
  private readonly status = new Map<string, string>()
  /** `<id>:<sha256>` of installed models whose bytes were hashed since the start. */
  private readonly verified = new Set<string>()
  private running: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private current: AbortController | undefined
  private stopped = false

  constructor(private readonly o: ModelSyncOptions) {}

  /**
   * Takes the configuration's model list: removes models no longer listed or installed with
   * another digest (at once, so the catalog never hands out a stale one), then downloads what is
   * missing in the background.
   */
  update(models: readonly AgentModel[]): void {
    if (this.stopped) return
    // `default` is the agent's own (VMS_AGENT_DEFAULT_MODEL), never the hub's to replace.
    models = models.filter((m) => m.id !== 'default')
    const ids = new Set(models.map((m) => m.id))
    for (const id of [...this.wanted.keys()]) if (!ids.has(id)) this.wanted.delete(id)
    for (const id of [...this.status.keys()]) if (!ids.has(id)) this.status.delete(id)
    for (const model of models) {
      const before = this.wanted.get(model.id)
      if (!before || before.model.sha256 !== model.sha256)
        this.wanted.set(model.id, { model, failures: 0, notBefore: 0 })
      else before.model = model
    }
    try {
      mkdirSync(this.o.modelsDir, { recursive: true })
      this.removeUnlisted()
      for (const { model } of this.wanted.values()) {
        const installed = this.installedDigest(model.id)
        if (installed !== undefined && installed !== model.sha256) {
          this.o.logger.info(
            { model: model.id },
            'analytics: the hub has another version of this model; replacing it',
          )
          this.remove(model.id)
        }
      }
    } catch (err) {
      this.o.logger.warn({ err }, 'analytics: cannot tidy the models directory')
    }
    this.kick()
  }

  /** Why a listed model is not installed yet (for the camera's status); undefined otherwise. */
  statusOf(id: string): string | undefined {
    return this.status.get(id)
  }

  /** Resolves once nothing is left to do (every listed model installed, or waiting for a retry). */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.current?.abort(new Error('the agent is stopping'))
    await this.running?.catch(() => undefined)
  }

  private kick(): void {
    if (this.running || this.stopped) return
    this.running = this.work().finally(() => {
      this.running = undefined
    })
  }

  /** One model at a time, until none is due; a retry later wakes it again. */
  private async work(): Promise<void> {
    for (;;) {
      if (this.stopped) return
      let next: Wanted | undefined
      let wake = Number.POSITIVE_INFINITY
      for (const w of this.wanted.values()) {
        if (await this.isInstalled(w.model)) {
          this.status.delete(w.model.id)
          continue
        }
        if (w.notBefore > Date.now()) {
          wake = Math.min(wake, w.notBefore)
          continue
        }
        next = w
        break
      }
      if (!next) {
        if (Number.isFinite(wake)) {
          if (this.timer) clearTimeout(this.timer)
          this.timer = setTimeout(() => this.kick(), Math.max(0, wake - Date.now()))
          this.timer.unref()
        }
        return
      }
      await this.download(next)
    }
  }

  private async download(w: Wanted): Promise<void> {
    const { model } = w
    this.status.set(model.id, 'downloading it from the hub')
    const started = Date.now()
    try {
      await this.fetchInto(model)
      // Listed still, with the same digest? (The configuration may have changed meanwhile.)
      if (this.wanted.get(model.id)?.model.sha256 !== model.sha256) {
        this.remove(model.id)
        return
      }
      w.failures = 0
      this.status.delete(model.id)
      this.verified.add(`${model.id}:${model.sha256}`)
      this.o.logger.info(
        { model: model.id, bytes: model.bytes, ms: Date.now() - started },
        'analytics: model downloaded and verified',
      )
    } catch (err) {
      if (this.stopped) return
      w.failures += 1
      const delay = Math.min(
        (this.o.retryBaseMs ?? 5_000) * 2 ** Math.min(w.failures - 1, 20),
        this.o.retryMaxMs ?? 300_000,
      )
      w.notBefore = Date.now() + delay
      const reason = (err as Error).message.slice(0, 300)
      this.status.set(
        model.id,
        `its download from the hub failed (${reason}); trying again in ${Math.ceil(delay / 1000)} s`,
      )
      this.o.logger.warn({ model: model.id, err: reason, retryMs: delay }, 'analytics: model download failed')
    }
    this.notify(model.id)
  }

  /** Streams the model to a temporary file, checks length and digest, then renames it in place. */
  private async fetchInto(model: AgentModel): Promise<void> {
    const url = new URL(`/api/v1/agent/models/${encodeURIComponent(model.id)}`, `${this.o.hubUrl}/`)
    const auth = Buffer.from(`${this.o.agentId}:${this.o.secret}`).toString('base64')
    const tmp = path.join(this.o.modelsDir, `.${model.id}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`)
    const controller = new AbortController()
    this.current = controller
    const timeout = setTimeout(
      () => controller.abort(new Error('the download took too long')),
      this.o.timeoutMs ?? 600_000,
    )
    try {
      const res = await hubFetch(this.o)(url, {
        headers: { authorization: `Basic ${auth}` },
        signal: controller.signal,
      })
      if (res.status !== 200 || !res.body) {
        const body = (await res.text().catch(() => '')).slice(0, 200)
        throw new Error(`the hub answered ${res.status}${body ? `: ${body}` : ''}`)
      }
      const hash = createHash('sha256')
      let received = 0
      await pipeline(
        Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            received += chunk.length
            if (received > model.bytes)
              throw new Error(`it is longer than the ${model.bytes} bytes announced`)
            hash.update(chunk)
            yield chunk
          }
        },
        createWriteStream(tmp, { mode: 0o600 }),
        { signal: controller.signal },
      )
      if (received !== model.bytes) throw new Error(`it ended after ${received} of ${model.bytes} bytes`)
      if (hash.digest('hex') !== model.sha256) throw new Error('its SHA-256 does not match the configuration')
      await syncFile(tmp)
      // The model first, its JSON last: the catalog sees a model only once both are there.
      rmSync(this.metaFile(model.id), { force: true })
      renameSync(tmp, this.modelFile(model.id))
      const metaTmp = `${tmp}.json`
      await writeSynced(
        metaTmp,
        JSON.stringify({ format: model.format, labels: model.labels, sha256: model.sha256 }),
      )
      renameSync(metaTmp, this.metaFile(model.id))
    } finally {
      clearTimeout(timeout)
      this.current = undefined
      rmSync(tmp, { force: true })
      rmSync(`${tmp}.json`, { force: true })
    }
  }

  /** Installed with the listed digest, its size right, and its bytes hashed once since the start. */
  private async isInstalled(model: AgentModel): Promise<boolean> {
    if (this.installedDigest(model.id) !== model.sha256) return false
    try {
      if (statSync(this.modelFile(model.id)).size !== model.bytes) throw new Error('size')
      const key = `${model.id}:${model.sha256}`
      if (!this.verified.has(key)) {
        if ((await hashFile(this.modelFile(model.id))) !== model.sha256) throw new Error('digest')
        this.verified.add(key)
      }
      return true
    } catch {
      this.o.logger.warn(
        { model: model.id },
        'analytics: an installed model does not match its digest; downloading it again',
      )
      this.remove(model.id)
      return false
    }
  }

  /** The `sha256` of an installed model's JSON; undefined when not installed or not from the hub. */
  private installedDigest(id: string): string | undefined {
    try {
      const meta = JSON.parse(readFileSync(this.metaFile(id), 'utf8')) as { sha256?: unknown }
      return typeof meta.sha256 === 'string' ? meta.sha256 : undefined
    } catch {
      return undefined
    }
  }

  /** Models this installed that the configuration no longer lists, and downloads left half done. */
  private removeUnlisted(): void {
    for (const name of readdirSync(this.o.modelsDir)) {
      if (name.startsWith('.') && (name.endsWith(TMP_SUFFIX) || name.endsWith(`${TMP_SUFFIX}.json`))) {
        // Not one being written now (only this process writes them, one at a time).
        if (!this.current) rmSync(path.join(this.o.modelsDir, name), { force: true })
        continue
      }
      if (!name.endsWith('.json')) continue
      const id = name.slice(0, -'.json'.length)
      if (id === 'default' || this.wanted.has(id)) continue
      if (this.installedDigest(id) === undefined) continue // placed by hand
      this.o.logger.info({ model: id }, 'analytics: removing a model no camera uses any more')
      this.remove(id)
    }
  }

  private remove(id: string): void {
    // The JSON first: without it the catalog no longer offers the model.
    rmSync(this.metaFile(id), { force: true })
    rmSync(this.modelFile(id), { force: true })
    for (const key of [...this.verified]) if (key.startsWith(`${id}:`)) this.verified.delete(key)
  }

  private notify(id: string): void {
    try {
      this.o.onChange(id)
    } catch (err) {
      this.o.logger.warn({ err }, 'analytics: a model change handler failed')
    }
  }

  private modelFile(id: string): string {
    return path.join(this.o.modelsDir, `${id}.onnx`)
  }

  private metaFile(id: string): string {
    return path.join(this.o.modelsDir, `${id}.json`)
  }
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r+')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

async function writeSynced(file: string, text: string): Promise<void> {
  const handle = await open(file, 'w', 0o600)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

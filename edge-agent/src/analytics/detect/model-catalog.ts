import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { COCO_LABELS } from '@ts-vms/shared'
import { z } from 'zod'
import type { YoloFormat } from './yolo-output.ts'

/**
 * Where the agent finds the model a camera's `analytics.model` names. A camera's configuration
 * names a model by id, never by path (it comes from the hub):
 * - `default`: `VMS_AGENT_DEFAULT_MODEL` (a file path, YOLOX format with COCO labels unless
 *   `VMS_AGENT_DEFAULT_MODEL_FORMAT` says otherwise), else `<models dir>/default.onnx`.
 * - any other id: `<models dir>/<id>.onnx` with `<id>.json` beside it:
 *   `{ "format": "yolox" | "yolov8", "labels": [...] }` (labels absent: COCO's 80). A model the
 *   hub distributes is put there by model-sync.ts, which also writes its `sha256` in the JSON
 *   (the JSON comes last, so a model whose download was cut short is not there).
 *
 * A model that is not there is an error the camera's analytics status shows; it never stops the
 * agent or its recordings.
 */
export interface ModelSpec {
  id: string
  file: string
  format: YoloFormat
  labels: readonly string[]
}

export class ModelUnavailable extends Error {
  override name = 'ModelUnavailable'
}

const sidecar = z.strictObject({
  format: z.enum(['yolox', 'yolov8']),
  labels: z.array(z.string().min(1).max(64)).min(1).max(10_000).optional(),
  /** Written by model-sync for a model from the hub: what its download was checked against. */
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
})

export interface ModelCatalogOptions {
  modelsDir: string
  defaultModel?: string | undefined
  defaultFormat?: YoloFormat | undefined
  /**
   * Why a model the hub distributes is not installed yet (downloading, or the download failed
   * and why), for the camera's status; undefined when nothing is known about it.
   */
  downloadStatus?: ((id: string) => string | undefined) | undefined
}

export class ModelCatalog {
  constructor(private readonly o: ModelCatalogOptions) {}

  /** The model `id` names, or a ModelUnavailable saying what is missing and how to provide it. */
  resolve(id: string): ModelSpec {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id))
      throw new ModelUnavailable(`"${id.slice(0, 64)}" is not a model id`)
    if (id === 'default') {
      const file = this.o.defaultModel ?? path.join(this.o.modelsDir, 'default.onnx')
      if (!existsSync(file))
        throw new ModelUnavailable(
          `the default model is not installed on this agent (looked for ${file}): set VMS_AGENT_DEFAULT_MODEL to a YOLOX-Nano ONNX file or place one there`,
        )
      return { id, file, format: this.o.defaultFormat ?? 'yolox', labels: COCO_LABELS }
    }
    const file = path.join(this.o.modelsDir, `${id}.onnx`)
    const meta = path.join(this.o.modelsDir, `${id}.json`)
    if (!existsSync(file) || !existsSync(meta)) {
      const status = this.o.downloadStatus?.(id)
      throw new ModelUnavailable(
        status
          ? `model "${id}" is not installed on this agent yet: ${status}`
          : `model "${id}" is not installed on this agent (${file} and ${meta})`,
      )
    }
    let parsed: z.infer<typeof sidecar>
    try {
      parsed = sidecar.parse(JSON.parse(readFileSync(meta, 'utf8')))
    } catch (err) {
      throw new ModelUnavailable(
        `model "${id}": ${meta} does not read: ${(err as Error).message.slice(0, 300)}`,
      )
    }
    return { id, file, format: parsed.format, labels: parsed.labels ?? COCO_LABELS }
  }
}

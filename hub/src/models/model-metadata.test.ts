import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ModelUnreadable, readModelMetadata } from './model-metadata.ts'

const MODEL = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../shared/models/yolox_nano.onnx',
)

describe('readModelMetadata (in a child process)', () => {
  it('refuses what is not a model, without harm to this process', async () => {
    await expect(readModelMetadata(Buffer.from('not a model'))).rejects.toBeInstanceOf(ModelUnreadable)
    await expect(readModelMetadata(Buffer.alloc(0))).rejects.toBeInstanceOf(ModelUnreadable)
  })

  it.skipIf(!existsSync(MODEL))('reads the inputs and outputs of a real model', async () => {
    const m = await readModelMetadata(readFileSync(MODEL))
    expect(m.inputs).toEqual([{ name: 'images', dims: [1, 3, 416, 416], type: 'float32' }])
    expect(m.outputs[0]?.dims).toEqual([1, 3549, 85])
  })
})

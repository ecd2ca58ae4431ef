import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { COCO_LABELS } from '@ts-vms/shared'
import { afterEach, describe, expect, it } from 'vitest'
import { ModelCatalog, ModelUnavailable } from './model-catalog.ts'

let dir: string
afterEach(() => rmSync(dir, { recursive: true, force: true }))
const catalog = (o: { defaultModel?: string } = {}) => {
  dir = mkdtempSync(path.join(tmpdir(), 'models-'))
  return new ModelCatalog({ modelsDir: dir, ...o })
}

describe('ModelCatalog', () => {
  it('says how to install the default model when it is missing', () => {
    const c = catalog()
    expect(() => c.resolve('default')).toThrow(ModelUnavailable)
    expect(() => c.resolve('default')).toThrow(/VMS_AGENT_DEFAULT_MODEL/)
  })

  it('finds the default model in the models directory or where the setting says, as YOLOX with COCO labels', () => {
    const c = catalog()
    writeFileSync(path.join(dir, 'default.onnx'), 'x')
    expect(c.resolve('default')).toMatchObject({ id: 'default', format: 'yolox', labels: COCO_LABELS })
    const elsewhere = path.join(dir, 'nano.onnx')
    writeFileSync(elsewhere, 'x')
    expect(new ModelCatalog({ modelsDir: '/nowhere', defaultModel: elsewhere }).resolve('default').file).toBe(
      elsewhere,
    )
  })

  it('reads another model with its format and labels, and refuses a bad sidecar or id', () => {
    const c = catalog()
    writeFileSync(path.join(dir, 'shop-v2.onnx'), 'x')
    expect(() => c.resolve('shop-v2')).toThrow(/not installed/)
    writeFileSync(
      path.join(dir, 'shop-v2.json'),
      JSON.stringify({ format: 'yolov8', labels: ['basket', 'trolley'] }),
    )
    expect(c.resolve('shop-v2')).toMatchObject({ format: 'yolov8', labels: ['basket', 'trolley'] })
    writeFileSync(path.join(dir, 'shop-v2.json'), JSON.stringify({ format: 'ssd' }))
    expect(() => c.resolve('shop-v2')).toThrow(/does not read/)
    expect(() => c.resolve('../etc/passwd')).toThrow(/not a model id/)
  })
})

describe('ModelCatalog and downloads', () => {
  it('says why a model from the hub is not there yet, and reads the sidecar model-sync writes', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'models-'))
    const status = new Map([['nano', 'the download failed: its SHA-256 does not match']])
    const c = new ModelCatalog({ modelsDir: dir, downloadStatus: (id) => status.get(id) })
    expect(() => c.resolve('nano')).toThrow(
      /not installed on this agent yet: the download failed: its SHA-256/,
    )
    expect(() => c.resolve('other')).toThrow(/is not installed on this agent \(/)
    writeFileSync(path.join(dir, 'nano.onnx'), 'x')
    writeFileSync(
      path.join(dir, 'nano.json'),
      JSON.stringify({ format: 'yolox', labels: ['person'], sha256: 'a'.repeat(64) }),
    )
    expect(c.resolve('nano')).toMatchObject({ format: 'yolox', labels: ['person'] })
  })
})

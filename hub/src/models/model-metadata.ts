import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/**
 * The inputs and outputs of an uploaded ONNX model, read by onnxruntime in a child process: the
 * file is untrusted and onnxruntime parses it in native code, so a model that crashes it or eats
 * memory costs that process, never the hub. One at a time (each takes a core and the model's
 * size in memory for a moment), bounded in time and output.
 */
export interface ModelMetadata {
  inputs: { name: string; dims: readonly (number | string)[]; type: string }[]
  outputs: { name: string; dims: readonly (number | string)[]; type: string }[]
}

export class ModelUnreadable extends Error {
  override name = 'ModelUnreadable'
}

const CHILD = fileURLToPath(new URL('./model-metadata-child.mjs', import.meta.url))
const TIMEOUT_MS = 60_000
const MAX_OUTPUT = 1024 * 1024

let queue: Promise<unknown> = Promise.resolve()

export function readModelMetadata(bytes: Buffer): Promise<ModelMetadata> {
  const run = queue.then(() => inspect(bytes))
  queue = run.catch(() => undefined)
  return run
}

function inspect(bytes: Buffer): Promise<ModelMetadata> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'ignore'] })
    let out = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d: string) => {
      out += d
      if (out.length > MAX_OUTPUT) child.kill('SIGKILL')
    })
    child.stdin.on('error', () => {}) // a child that died early closes its stdin
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(new ModelUnreadable(`the model could not be inspected: ${err.message}`))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let parsed: (ModelMetadata & { error?: undefined }) | { error: string } | undefined
      try {
        parsed = JSON.parse(out) as typeof parsed
      } catch {}
      if (parsed && 'error' in parsed && typeof parsed.error === 'string')
        return reject(
          new ModelUnreadable(`the body is not an ONNX model onnxruntime can load: ${parsed.error}`),
        )
      if (
        parsed &&
        Array.isArray((parsed as ModelMetadata).inputs) &&
        Array.isArray((parsed as ModelMetadata).outputs)
      )
        return resolve(parsed as ModelMetadata)
      reject(
        new ModelUnreadable(
          signal === 'SIGKILL'
            ? 'the model took too long or too much to load'
            : `the model crashed the loader (exit ${code ?? signal})`,
        ),
      )
    })
    child.stdin.end(bytes)
  })
}

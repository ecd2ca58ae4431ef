// Reads an ONNX model from stdin and prints its inputs and outputs as JSON (see model-metadata.ts).
// Plain JavaScript in its own process: onnxruntime parses an uploaded file in native code, and
// whatever that file does to it must not take the hub down.
import { InferenceSession } from 'onnxruntime-node'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const bytes = Buffer.concat(chunks)
const describe = (m) => ({
  name: m.name,
  dims: m.isTensor ? m.shape : [],
  type: m.isTensor ? m.type : 'not a tensor',
})
try {
  const session = await InferenceSession.create(
    new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length),
    {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      // Only the graph's interface is read: optimising it would be work for nothing.
      graphOptimizationLevel: 'disabled',
    },
  )
  const out = { inputs: session.inputMetadata.map(describe), outputs: session.outputMetadata.map(describe) }
  await session.release()
  process.stdout.write(JSON.stringify(out))
} catch (err) {
  process.stdout.write(JSON.stringify({ error: String(err?.message ?? err).slice(0, 300) }))
}

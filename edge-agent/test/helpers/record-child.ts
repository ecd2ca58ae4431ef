/** A recorder in its own process, for the SIGKILL test: records one simulated camera until killed. */
import pino from 'pino'
import { CameraStream } from '../../src/media/core/camera-stream.ts'
import { Recorder } from '../../src/recorder/recorder.ts'
import { RecordingIndex } from '../../src/recorder/recording-index.ts'

const [url, dir, indexFile] = process.argv.slice(2) as [string, string, string]
const index = new RecordingIndex(indexFile)
const logger = pino({ level: 'silent' })
const stream = new CameraStream('cam', { url }, logger)
const recorder = new Recorder({ cameraId: 'cam', stream: 'main', dir, index, segmentSeconds: 3, logger })
stream.producer.subscribe(recorder)
stream.start()
setInterval(() => {
  if (recorder.frames > 0) process.stdout.write(`frames ${recorder.frames}\n`)
}, 250)

import path from 'node:path'
import { hostAddressesSetting, portRangeSetting } from '@ts-vms/shared'
import { z } from 'zod'
import {
  LOCAL_SETTING_KEYS,
  type LocalSettingKey,
  localSettingsFile,
  readLocalSettings,
} from './local-settings.ts'

/** Agent settings, from the environment (some also from the local settings file); a bad value stops the agent with the key named. */
const positiveInt = z.coerce.number().int().positive()

export const agentConfigSchema = z.object({
  VMS_AGENT_DATA_DIR: z.string().min(1).default('./data/agent'),
  VMS_AGENT_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Bound of the outbox (bytes); beyond it health is coalesced and non-essential work refused. */
  VMS_AGENT_OUTBOX_MAX_BYTES: positiveInt.default(256 * 1024 * 1024),
  /** Resend what the hub has not acknowledged after this long without progress. */
  VMS_AGENT_ACK_TIMEOUT_MS: positiveInt.default(5000),
  /** Most messages in flight (sent, not yet acknowledged). */
  VMS_AGENT_MAX_INFLIGHT: positiveInt.default(2000),
  VMS_AGENT_BATCH_MAX: positiveInt.max(500).default(500),
  /** Where segments and their index live (default: <data dir>/recordings). */
  VMS_AGENT_RECORDINGS_DIR: z.string().min(1).optional(),
  /** Segment length target in seconds; segments are cut at the first keyframe after it. */
  VMS_AGENT_SEGMENT_SECONDS: positiveInt.min(2).max(600).default(60),
  /** Most bytes all recordings may take (oldest deleted first); unset: no quota, the floor applies. */
  VMS_AGENT_RECORDING_QUOTA_BYTES: positiveInt.optional(),
  /** Free space always left on the recordings' disk (oldest recordings deleted first). */
  VMS_AGENT_MIN_FREE_BYTES: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(512 * 1024 * 1024),
  /** How often retention runs besides before each new segment. */
  VMS_AGENT_RETENTION_INTERVAL_SECONDS: positiveInt.default(60),
  /** Cap of the reconnect backoff for a camera that is away. */
  VMS_AGENT_RECONNECT_MAX_MS: positiveInt.min(100).default(30_000),
  /** No media from a camera for this long ends its session (then reconnect). */
  VMS_AGENT_CAMERA_TIMEOUT_MS: positiveInt.min(500).default(10_000),
  /** Live view: addresses to announce as ICE host candidates besides the interfaces' (comma-separated IPs). */
  VMS_AGENT_LIVE_HOST_ADDRESSES: hostAddressesSetting,
  /** Live view: UDP ports for ICE, `min-max` (unset: any free port). */
  VMS_AGENT_LIVE_PORT_RANGE: portRangeSetting.optional(),
  /** Live view: connections the agent serves at once (the hub's relay needs one per camera watched). */
  VMS_AGENT_LIVE_MAX_PEERS: positiveInt.max(1000).default(32),
  /**
   * `always`: every camera stream stays open, so live view starts at once from its last keyframe;
   * `on-demand`: streams the recorder does not use open only while someone watches.
   */
  VMS_AGENT_LIVE_STREAMS: z.enum(['always', 'on-demand']).default('always'),
  /** How long a stream opened for live view only (a camera that does not record it) stays open unwatched. */
  VMS_AGENT_ON_DEMAND_LINGER_MS: z.coerce.number().int().nonnegative().default(10_000),
  /** Live view: transcode H.265-only cameras to H.264 with ffmpeg (FFMPEG_PATH or on PATH). */
  VMS_AGENT_LIVE_TRANSCODE: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** Live view: a connection that is not up within this is dropped (and a direct one reported). */
  VMS_AGENT_LIVE_CONNECT_TIMEOUT_MS: positiveInt.min(1000).default(30_000),
  /** Live view: how long to wait for a camera's first keyframe when a viewer opens it. */
  VMS_AGENT_LIVE_START_TIMEOUT_MS: positiveInt.min(500).default(8_000),
  /** Analytics: the model a camera's `"model": "default"` runs (an ONNX file; default `<data dir>/models/default.onnx`). */
  VMS_AGENT_DEFAULT_MODEL: z.string().min(1).optional(),
  /** Analytics: the default model's output format. */
  VMS_AGENT_DEFAULT_MODEL_FORMAT: z.enum(['yolox', 'yolov8']).default('yolox'),
  /** Analytics: where models other than the default are (`<id>.onnx` and `<id>.json`; default `<data dir>/models`). */
  VMS_AGENT_MODELS_DIR: z.string().min(1).optional(),
  /** Analytics: detector sessions per model shared by all cameras (default: the machine's cores). */
  VMS_AGENT_ANALYTICS_DETECTORS: positiveInt.max(64).optional(),
  /** Analytics: how often finished motion-time buckets go to the hub (the playback timeline's motion). */
  VMS_AGENT_ACTIVITY_FLUSH_SECONDS: positiveInt.max(3600).default(30),
  /**
   * Health probes: how often each camera whose stream is not open is asked OPTIONS/DESCRIBE, and
   * each camera's device (one probe per device address: an NVR's cameras share it).
   */
  VMS_AGENT_PROBE_INTERVAL_SECONDS: positiveInt.max(86_400).default(60),
  /**
   * Prometheus metrics (`GET /metrics`): the port to serve them on; unset: no listener, 0: any free
   * port (logged). The metrics name cameras, so they are served on loopback unless told otherwise.
   */
  VMS_AGENT_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** The address the metrics listen on (default loopback only: no anonymous exposure beyond the machine). */
  VMS_AGENT_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** The setup wizard's port (served until setup is finished; `npm run agent -- setup` reopens it). */
  VMS_AGENT_SETUP_PORT: z.coerce.number().int().min(0).max(65_535).default(7080),
  /**
   * The address the setup wizard listens on: loopback by default; any other address (e.g. 0.0.0.0
   * for the LAN) is served over TLS with a self-signed certificate whose fingerprint is printed.
   */
  VMS_AGENT_SETUP_HOST: z.string().min(1).default('127.0.0.1'),
})

/**
 * The agent's settings: the environment (and `overrides`, for tests and tools) over the installer's
 * local settings file `<data dir>/agent-settings.json` (see local-settings.ts: the setup wizard's
 * disk quota) over the defaults. A bad value, in either, throws with the key (and file) named.
 */
export function loadAgentSettings(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Record<string, unknown> = {},
) {
  const values: Record<string, unknown> = {}
  for (const key of Object.keys(agentConfigSchema.shape)) if (env[key]) values[key] = env[key]
  const given: Record<string, unknown> = { ...values, ...overrides }
  // The installer's local settings (<data dir>/agent-settings.json) lie under the environment.
  const dataDirGiven = given.VMS_AGENT_DATA_DIR
  const localDir = path.resolve(
    typeof dataDirGiven === 'string' && dataDirGiven !== ''
      ? dataDirGiven
      : (agentConfigSchema.shape.VMS_AGENT_DATA_DIR.parse(undefined) as string),
  )
  const local = readLocalSettings(localDir)
  const sources = {} as Record<LocalSettingKey, 'environment' | 'file' | 'default'>
  const layered: Record<string, unknown> = { ...given }
  for (const key of LOCAL_SETTING_KEYS) {
    if (given[key] !== undefined) sources[key] = 'environment'
    else if (local[key] !== undefined) {
      sources[key] = 'file'
      if (local[key] !== null) layered[key] = local[key]
    } else sources[key] = 'default'
  }
  const parsed = agentConfigSchema.safeParse(layered)
  if (!parsed.success) {
    throw new Error(
      `invalid agent configuration:\n  ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n  ')}`,
    )
  }
  const dataDir = path.resolve(parsed.data.VMS_AGENT_DATA_DIR)
  return {
    ...parsed.data,
    VMS_AGENT_DATA_DIR: dataDir,
    VMS_AGENT_RECORDINGS_DIR: path.resolve(
      parsed.data.VMS_AGENT_RECORDINGS_DIR ?? path.join(dataDir, 'recordings'),
    ),
    VMS_AGENT_MODELS_DIR: path.resolve(parsed.data.VMS_AGENT_MODELS_DIR ?? path.join(dataDir, 'models')),
    VMS_AGENT_DEFAULT_MODEL:
      parsed.data.VMS_AGENT_DEFAULT_MODEL === undefined
        ? undefined
        : path.resolve(parsed.data.VMS_AGENT_DEFAULT_MODEL),
    /** The local settings file, and where each of its keys came from (the environment wins). */
    localSettings: { file: localSettingsFile(localDir), sources },
  }
}

export type AgentSettings = ReturnType<typeof loadAgentSettings>

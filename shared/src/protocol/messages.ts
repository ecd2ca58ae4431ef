import { z } from 'zod'
import { analyticsConfigSchema } from '../analytics/analytics-config.ts'
import {
  agentCameraDevice,
  deviceAddress,
  deviceChannel,
  discoverRequestFields,
  probeProtocol,
  ptzCommand,
} from './devices.ts'
import { type StreamRole, streamRole } from './stream-role.ts'

/**
 * Message schemas of the agent protocol, version 1. Both sides validate with these; the hub
 * rejects (and counts) anything that does not parse, and the connection carries on.
 */
export const PROTOCOL_VERSION = 1
/** Largest MQTT payload either side accepts. */
export const MAX_PAYLOAD_BYTES = 256 * 1024
/** Most outbox messages in one `up/messages` batch. */
export const MAX_BATCH = 500

const id = z.string().min(1).max(200)
const shortText = (max: number) => z.string().max(max)
const isoTime = z.iso.datetime({ offset: true })
const jsonObject = z.record(z.string(), z.unknown())

export const eventBody = z.object({
  /** What happened: `test`, later `motion`, `object`, `camera.offline`, ... */
  type: z.string().regex(/^[a-z][a-z0-9._-]{0,63}$/),
  cameraId: z.uuid().optional(),
  data: jsonObject.optional(),
})

export const auditBody = z.object({
  action: z.string().regex(/^[a-z][a-z0-9._-]{0,99}$/),
  outcome: z.enum(['success', 'failure', 'denied']),
  actor: z.object({
    type: z.enum(['user', 'system']),
    id: id.nullable().optional(),
    name: id.nullable().optional(),
  }),
  target: z.object({ type: id, id: id.nullable().optional() }).optional(),
  reason: shortText(500).optional(),
  details: jsonObject.optional(),
})

export const streamHealth = z.object({
  role: z.enum(['main', 'sub']),
  state: z.enum(['idle', 'connecting', 'streaming', 'backoff', 'stopped']),
  /** The last error, without credentials. */
  error: shortText(500).optional(),
  codec: z.enum(['h264', 'h265']).optional(),
  /** The audio recorded with the video, if any. */
  audio: z.enum(['aac']).optional(),
  bitrateBps: z.number().nonnegative(),
  fps: z.number().nonnegative(),
  lostPackets: z.number().int().nonnegative(),
  /** Frames past the reassembly limit, and frames dropped for them up to the next keyframe. */
  oversizedFrames: z.number().int().nonnegative().optional(),
  droppedFrames: z.number().int().nonnegative().optional(),
  reconnects: z.number().int().nonnegative(),
  recording: z.boolean(),
  /** The camera's clock minus the agent's, when beyond the bound: its sender reports are ignored. */
  clockDriftMs: z.number().optional(),
  /** Jumps in the camera's RTP timestamps that cut a recording segment short, since the agent started. */
  timestampJumps: z.number().int().nonnegative().optional(),
  /**
   * When the recorder last made something durable from this stream (the agent's clock): with
   * `state` streaming and this old, the camera streams but nothing is written (`recording.stopped`).
   */
  lastWrittenAt: isoTime.optional(),
})
/** Live view of a camera on the agent: its connections (the hub's upstreams and direct viewers). */
export const cameraLiveHealth = z.object({
  connections: z.number().int().nonnegative(),
  /** The stream shown (an H.265 camera shows its H.264 sub-stream, or a transcoded one). */
  stream: z.enum(['main', 'sub']),
  transcoded: z.boolean(),
})

/**
 * Analytics on a camera (issue 13): `running` (decoding and detecting; `fps` 0 until frames come),
 * `disabled` (off in its configuration) or `error` (configured on but cannot run: no ffmpeg, the
 * model missing or failing to load, the stream missing; `error` says which).
 */
export const cameraAnalyticsHealth = z.object({
  state: z.enum(['running', 'disabled', 'error']),
  error: shortText(500).optional(),
  /** Frames analysed per second (over the last ~10 s). */
  fps: z.number().nonnegative(),
  /** Median detector call, ms (the last ~100). */
  inferenceMsP50: z.number().nonnegative(),
  /** Share of analysed frames (0..1) on which no inference ran (nothing moved, nothing tracked). */
  skippedByMotion: z.number().min(0).max(1),
  stream: streamRole.optional(),
  model: shortText(64).optional(),
  /** Frames dropped because the previous one was still being analysed. */
  framesDropped: z.number().int().nonnegative().optional(),
  /** Objects the tracker holds now. */
  activeObjects: z.number().int().nonnegative().optional(),
})
export type CameraAnalyticsHealth = z.infer<typeof cameraAnalyticsHealth>

/**
 * A camera's device events on the agent (issue 14): the event stream of its device `connected`,
 * `connecting`, in `error` (why: refused credentials, unreachable, a password that does not open,
 * a channel the device does not have), or `off` (events not taken from this device).
 */
export const cameraDeviceHealth = z.object({
  events: z.enum(['connected', 'connecting', 'error', 'off']),
  error: shortText(500).optional(),
  /** The last device event written for this camera. */
  lastEventAt: isoTime.optional(),
})
export type CameraDeviceHealth = z.infer<typeof cameraDeviceHealth>

/**
 * The agent's last health probe of a camera (issue 14): reachable from its stream when one is
 * streaming (`latencyMs` null), else by an RTSP OPTIONS/DESCRIBE; `device`: its device's HTTP
 * endpoint (one probe per address, shared by an NVR's cameras).
 */
export const cameraProbeHealth = z.object({
  reachable: z.boolean(),
  latencyMs: z.number().nonnegative().nullable(),
  at: isoTime,
  error: shortText(500).optional(),
  device: z
    .object({
      reachable: z.boolean(),
      latencyMs: z.number().nonnegative().nullable(),
      error: shortText(500).optional(),
    })
    .optional(),
})
export type CameraProbeHealth = z.infer<typeof cameraProbeHealth>

export const cameraHealth = z.object({
  id: z.uuid(),
  streams: z.array(streamHealth).max(2),
  live: cameraLiveHealth.optional(),
  analytics: cameraAnalyticsHealth.optional(),
  device: cameraDeviceHealth.optional(),
  probe: cameraProbeHealth.optional(),
  /**
   * The camera's recordings on the agent's disk (issue 16, `retention.short`): the oldest kept and
   * when retention last had to remove some of them for space (the quota or the free-space floor)
   * rather than for age; absent: never since the agent started.
   */
  retention: z.object({ oldestAt: isoTime.optional(), evictedForSpaceAt: isoTime.optional() }).optional(),
})
export type CameraHealth = z.infer<typeof cameraHealth>

export const healthBody = z.object({
  uptimeSeconds: z.number().nonnegative(),
  version: shortText(64),
  hostname: shortText(255).optional(),
  disk: z.object({ freeBytes: z.number().nonnegative(), totalBytes: z.number().nonnegative() }).optional(),
  outbox: z.object({
    depth: z.number().int().nonnegative(),
    bytes: z.number().nonnegative(),
    full: z.boolean(),
    /** Records too large to send, replaced by a placeholder keeping their sequence number. */
    quarantined: z.number().int().nonnegative().optional(),
    /** Records the hub acknowledged without applying them (invalid), since the agent started. */
    rejected: z.number().int().nonnegative().optional(),
    /** How long the oldest record not yet acknowledged has waited, by the agent's clock (`outbox.backlog`). */
    oldestAgeSeconds: z.number().nonnegative().optional(),
  }),
  /** The agent's data disk (outbox): full means records wait in memory (heartbeats coalesced). */
  storage: z
    .object({
      dataDiskFull: z.boolean(),
      /** Records waiting in memory for the outbox to take them. */
      pending: z.number().int().nonnegative(),
      /** Records lost because the memory bound was reached while the disk stayed full. */
      dropped: z.number().int().nonnegative(),
      since: isoTime.optional(),
      /** Why the last write failed (e.g. `SQLITE_FULL`). */
      error: shortText(200).optional(),
    })
    .optional(),
  configVersion: z.number().int().nonnegative(),
  /** Set while the outbox is full and the agent refuses non-essential work. */
  degraded: z.array(shortText(200)).max(20).optional(),
  /** Per camera: each stream's state and whether it is being recorded. */
  cameras: z.array(cameraHealth).max(256).optional(),
  recording: z
    .object({
      bytes: z.number().nonnegative(),
      quotaBytes: z.number().nonnegative().nullable(),
      /**
       * Bytes of recordings under an evidence lock still in force (retention may not take them):
       * the hub alarms when they crowd the quota (`lockedBytes` vs `quotaBytes`). Absent from
       * agents that predate evidence locks.
       */
      lockedBytes: z.number().nonnegative().optional(),
      /** Evidence locks in force on the agent (one per lock, whatever its cameras). */
      locks: z.number().int().nonnegative().optional(),
    })
    .optional(),
})

/** A box relative to the analytics frame, 0..1: [x1, y1, x2, y2]. */
const relativeBox = z.tuple([
  z.number().min(0).max(1),
  z.number().min(0).max(1),
  z.number().min(0).max(1),
  z.number().min(0).max(1),
])

/**
 * The `data` of an `object` event (one per tracked object, issue 13): `eventId` is the same from
 * `new` through every `update` to `end`, and each message carries the whole state after the
 * change, so the hub keeps one row per object and overwrites it in order.
 */
export const objectEventData = z.object({
  eventId: z.uuid(),
  kind: z.enum(['new', 'update', 'end']),
  /** Why this message was sent (`threshold`, `zone`, `stationary`, `snapshot-saved`, ...). */
  reason: z.array(z.string().regex(/^[a-z][a-z-]{0,31}$/)).max(16),
  label: z.string().min(1).max(64),
  /** The highest median score the object reached. */
  score: z.number().min(0).max(1),
  startTime: isoTime,
  /** null while the object is in view. */
  endTime: isoTime.nullable(),
  /** Zone names entered, each once, in order. */
  zones: z.array(z.string().min(1).max(64)).max(32),
  /** The snapshot's box. */
  box: relativeBox,
  stationary: z.boolean(),
  loitering: z.boolean(),
  hasSnapshot: z.boolean(),
})
export type ObjectEventData = z.infer<typeof objectEventData>

/** Most objects one `up/objects` message lists (the largest boxes first). */
export const MAX_LIVE_OBJECTS = 50

/**
 * `up/objects`: what analytics tracks on a camera at one analysed frame, for the live view's
 * overlay, sent while the camera is watched live. Only objects that are events (they passed the
 * camera's threshold) are listed; `box` is relative to the picture.
 */
export const liveObjects = z.object({
  v: z.literal(PROTOCOL_VERSION),
  cameraId: z.uuid(),
  /** The frame's time. */
  time: isoTime,
  objects: z
    .array(
      z.object({
        /** The object's event id. */
        id: z.uuid(),
        label: z.string().min(1).max(64),
        score: z.number().min(0).max(1),
        box: relativeBox,
        stationary: z.boolean(),
      }),
    )
    .max(MAX_LIVE_OBJECTS),
})
export type LiveObjects = z.infer<typeof liveObjects>

/** Length of the agent's motion-time buckets (the hub sums them into any coarser bucket). */
export const ACTIVITY_BUCKET_SECONDS = 10

/**
 * `activity` outbox body: seconds of motion per 10 s bucket of one camera, for the playback
 * timeline. A bucket is sent once it is over; the hub adds, so a bucket split across two messages
 * (an analytics restart) sums right.
 */
export const activityBody = z.object({
  cameraId: z.uuid(),
  bucketSeconds: z.literal(ACTIVITY_BUCKET_SECONDS),
  buckets: z
    .array(z.object({ start: isoTime, motionSeconds: z.number().min(0).max(ACTIVITY_BUCKET_SECONDS) }))
    .min(1)
    .max(1000),
})
export type ActivityBody = z.infer<typeof activityBody>

export const stateBody = z.object({
  configVersion: z.number().int().nonnegative(),
  configError: shortText(1000).optional(),
})

export const outboxMessage = z.discriminatedUnion('type', [
  z.object({ seq: z.number().int().positive(), type: z.literal('event'), at: isoTime, body: eventBody }),
  z.object({ seq: z.number().int().positive(), type: z.literal('audit'), at: isoTime, body: auditBody }),
  z.object({ seq: z.number().int().positive(), type: z.literal('health'), at: isoTime, body: healthBody }),
  z.object({ seq: z.number().int().positive(), type: z.literal('state'), at: isoTime, body: stateBody }),
  z.object({
    seq: z.number().int().positive(),
    type: z.literal('activity'),
    at: isoTime,
    body: activityBody,
  }),
  // A health sample the agent coalesced away while its outbox was full: it keeps its sequence
  // number (the hub takes only gap-free runs) but carries nothing.
  z.object({
    seq: z.number().int().positive(),
    type: z.literal('noop'),
    at: isoTime,
    body: z.object({}).strict(),
  }),
])
export type OutboxMessage = z.infer<typeof outboxMessage>
export type OutboxType = OutboxMessage['type']

/** `up/messages`: a batch of outbox rows, in sequence order. */
export const upMessages = z.object({
  v: z.literal(PROTOCOL_VERSION),
  /**
   * The agent's clock when it published the batch: against the hub's when it arrives, the agent's
   * clock offset (`clock.drift`). Absent from older agents.
   */
  sentAt: isoTime.optional(),
  messages: z.array(outboxMessage).min(1).max(MAX_BATCH),
})
export type UpMessages = z.infer<typeof upMessages>

/** `up/status` (retained; the agent's last will says offline). */
export const upStatus = z.object({
  v: z.literal(PROTOCOL_VERSION),
  online: z.boolean(),
  version: shortText(64).optional(),
  /**
   * What this agent can do beyond protocol version 1's first release (a hub asks an older agent
   * the old way): `live.bundle`, several cameras on one upstream connection.
   */
  features: z.array(shortText(64)).max(32).optional(),
  at: isoTime,
})
export type UpStatus = z.infer<typeof upStatus>

/**
 * `down/ack`: everything up to `seq` is committed on the hub; the agent may delete it. `rejected`
 * names messages within it that the hub could not apply (acknowledged all the same, so one bad
 * message never blocks the ones behind it). `resend` asks the agent to send again from `seq` in
 * publications of at most `maxBytes` (the last one was over the limit and was not read).
 */
export const downAck = z.object({
  v: z.literal(PROTOCOL_VERSION),
  seq: z.number().int().nonnegative(),
  rejected: z
    .array(z.object({ seq: z.number().int().positive(), reason: shortText(64) }))
    .max(MAX_BATCH)
    .optional(),
  resend: z.object({ reason: z.enum(['oversize']), maxBytes: z.number().int().positive() }).optional(),
})
export type DownAck = z.infer<typeof downAck>

/**
 * A camera URL as the agent dials it: RTSP, a host, no credentials (those go in
 * `username`/`password`, so they are encrypted and never logged with the URL), no whitespace.
 */
export const rtspUrl = z
  .string()
  .max(2048)
  .refine((value) => {
    // Whitespace or control characters would let a URL smuggle a second line into an RTSP request.
    for (const ch of value) if (ch.charCodeAt(0) <= 0x20 || ch.charCodeAt(0) === 0x7f) return false
    try {
      const u = new URL(value)
      return u.protocol === 'rtsp:' && u.hostname !== ''
    } catch {
      return false
    }
  }, 'must be an rtsp:// URL with a host (RTSP over TLS is not supported yet)')
  .refine((value) => {
    try {
      const u = new URL(value)
      return u.username === '' && u.password === ''
    } catch {
      return true
    }
  }, 'must not carry credentials: give them as username and password')

export { type StreamRole, streamRole }

/** A camera stream as the agent receives it: the password sealed under the agent's config key. */
export const agentCameraStream = z.object({
  role: streamRole,
  url: rtspUrl,
  username: z.string().max(256).optional(),
  /** SecretBox-sealed under the agent's configuration key, context `cameraPasswordContext(...)`. */
  passwordSealed: z.string().max(4096).optional(),
  transport: z.enum(['tcp', 'udp']).default('tcp'),
})
export type AgentCameraStream = z.infer<typeof agentCameraStream>

export const recordingSettings = z.object({
  enabled: z.boolean().default(true),
  /** Days of recording kept by age (the agent's disk quota and free-space floor apply too). */
  retentionDays: z.number().int().min(1).max(3650).default(30),
})
export type RecordingSettings = z.infer<typeof recordingSettings>

/**
 * A camera's analytics as the agent receives it: validated by the hub against the model's labels;
 * the agent checks the labels again against the model it loads.
 */
export const agentAnalyticsConfig = analyticsConfigSchema(null)

export const agentCamera = z.object({
  id: z.uuid(),
  name: z.string().max(200),
  streams: z.array(agentCameraStream).max(2),
  recording: recordingSettings,
  /** Absent (older hubs) or `enabled: false`: no analytics. */
  analytics: agentAnalyticsConfig.optional(),
  /** The device the camera is (or is a channel of): snapshots, PTZ, its own events. Absent: none. */
  device: agentCameraDevice.optional(),
})
export type AgentCamera = z.infer<typeof agentCamera>

/** The associated data a camera password is sealed with, on the hub and for the agent. */
export const cameraPasswordContext = (cameraId: string, role: StreamRole) =>
  `camera-password:${cameraId}:${role}`
/** What an agent's configuration key is derived for (HKDF from the hub's master key). */
export const agentConfigKeyPurpose = (agentId: string) => `agent-config-key:${agentId}`

/**
 * A model the hub holds that one of the agent's cameras runs: the agent downloads its bytes
 * (`GET /api/v1/agent/models/:id`) and installs them only with this SHA-256 and length.
 */
export const agentModel = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  format: z.enum(['yolox', 'yolov8']),
  labels: z.array(z.string().min(1).max(64)).min(1).max(10_000),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().positive(),
})
export type AgentModel = z.infer<typeof agentModel>

/**
 * An evidence lock as an agent holds it (issue 16): the recordings of `cameraIds` (those of the
 * lock this agent records) overlapping [from, to) are kept until `until` by the agent's clock,
 * whatever its quota, age limit or free-space floor.
 */
export const agentEvidenceLock = z.object({
  id: z.uuid(),
  cameraIds: z.array(z.uuid()).min(1).max(64),
  from: isoTime,
  to: isoTime,
  until: isoTime,
})
export type AgentEvidenceLock = z.infer<typeof agentEvidenceLock>

/** At most this many locks in one agent's configuration (the whole message stays under 256 KiB). */
export const MAX_AGENT_EVIDENCE_LOCKS = 1000

/** The agent's desired configuration: its settings and the cameras it serves. */
export const agentConfig = z.object({
  heartbeatSeconds: z.number().int().min(2).max(300).default(10),
  cameras: z.array(agentCamera).max(256).default([]),
  /** The hub's models its cameras name (absent from older hubs: none). */
  models: z.array(agentModel).max(32).default([]),
  /**
   * Evidence locks in force on this agent's recordings. Optional without a default (absent: none)
   * so a configuration without locks reads and compares as it did before locks existed; an agent
   * that predates them ignores the field.
   */
  evidenceLocks: z.array(agentEvidenceLock).max(MAX_AGENT_EVIDENCE_LOCKS).optional(),
})
export type AgentConfig = z.infer<typeof agentConfig>

/** `down/config` (retained): the desired configuration, versioned. */
export const downConfig = z.object({
  v: z.literal(PROTOCOL_VERSION),
  version: z.number().int().nonnegative(),
  config: agentConfig,
})
export type DownConfig = z.infer<typeof downConfig>

/** A STUN or TURN server for WebRTC (RTCIceServer with one URL). */
export const iceServer = z.object({
  urls: z.string().regex(/^(stun|turns?):[^\s]{1,250}$/),
  username: z.string().max(256).optional(),
  credential: z.string().max(256).optional(),
})
export type IceServer = z.infer<typeof iceServer>

/** The answer to `live.offer`. */
export const liveAnswerResult = z.object({
  sdp: z
    .string()
    .min(1)
    .max(64 * 1024),
  /** The stream the agent sends from (its codec is H.264; `transcoded` when made from H.265). */
  stream: streamRole,
  transcoded: z.boolean().default(false),
})
export type LiveAnswerResult = z.infer<typeof liveAnswerResult>

/** The feature an agent announces in `up/status` when it answers `live.bundle`. */
export const LIVE_BUNDLE_FEATURE = 'live.bundle'
/** Most cameras on one bundled upstream connection (a 4x4 grid's). */
export const MAX_LIVE_BUNDLE_TRACKS = 16

/** A request's refusal: a response's `error`, or one part's in a result that answers several at once. */
export const partError = z.object({
  status: z.number().int().min(400).max(599),
  code: shortText(64),
  message: shortText(1000),
})

/** The answer to `live.bundle`: one entry per track, in order; a refused track's section is silent. */
export const liveBundleResult = z.object({
  sdp: z
    .string()
    .min(1)
    .max(200 * 1024),
  tracks: z
    .array(
      z.union([
        z.object({ stream: streamRole, transcoded: z.boolean().default(false) }),
        z.object({ error: partError }),
      ]),
    )
    .min(1)
    .max(MAX_LIVE_BUNDLE_TRACKS),
})
export type LiveBundleResult = z.infer<typeof liveBundleResult>

/** Most fragments (about a second each) one playback media segment may hold. */
export const PLAYBACK_MAX_PART_FRAGMENTS = 120
/** A recording file on the agent: its id in the agent's index and its wall-clock start (ms). */
const recordingFile = z.number().int().positive().max(Number.MAX_SAFE_INTEGER)
/** An init section's key: the first 128 bits (hex) of the SHA-256 of its normalised bytes. */
export const playbackInitKey = z.string().regex(/^[0-9a-f]{32}$/)
export const playbackCursor = z.object({ file: recordingFile, startMs: z.number().nonnegative() })
export type PlaybackCursor = z.infer<typeof playbackCursor>

/**
 * What `recordings.segment` asks for: a file's init section (which must hash to `init`), or a run
 * of its fragments. `startMs` is the file's start rounded to the millisecond: it must match, so an
 * index rebuilt since (its ids reused) never answers for another recording.
 */
export const playbackPart = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('init'),
    file: recordingFile,
    startMs: z.number().int().nonnegative(),
    init: playbackInitKey,
  }),
  z.object({
    kind: z.literal('media'),
    file: recordingFile,
    startMs: z.number().int().nonnegative(),
    first: z.number().int().min(0).max(1_000_000),
    count: z.number().int().min(1).max(PLAYBACK_MAX_PART_FRAGMENTS),
  }),
])
export type PlaybackPart = z.infer<typeof playbackPart>

/**
 * `down/request`: the hub asks an agent for something on behalf of a user (the agent is behind NAT:
 * this is the only way in). Never retained; a request past its deadline is dropped unanswered.
 */
export const downRequest = z.discriminatedUnion('op', [
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    op: z.literal('recordings.list'),
    deadline: isoTime,
    cameraId: z.uuid(),
    from: isoTime,
    to: isoTime,
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    op: z.literal('recordings.export'),
    deadline: isoTime,
    cameraId: z.uuid(),
    from: isoTime,
    to: isoTime,
    /** Where on the hub (path under the hub URL the agent enrolled with) to PUT the file. */
    uploadPath: z.string().regex(/^\/api\/v1\/agent\/uploads\/[0-9a-f-]{36}$/),
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    /** HLS playback: the range's media segments, grouped from the recording's fragments. */
    op: z.literal('recordings.segments'),
    deadline: isoTime,
    cameraId: z.uuid(),
    from: isoTime,
    to: isoTime,
    /** Fragments are grouped into media segments of at least this long (a file's last may be shorter). */
    targetMs: z.number().int().min(1000).max(30_000),
    /** The next page: files after this one (the previous page's `next`). */
    after: playbackCursor.optional(),
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    /** HLS playback: one init section or media segment, uploaded like an export. */
    op: z.literal('recordings.segment'),
    deadline: isoTime,
    cameraId: z.uuid(),
    part: playbackPart,
    uploadPath: z.string().regex(/^\/api\/v1\/agent\/uploads\/[0-9a-f-]{36}$/),
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    /** "Test stream": codec, picture size and measured frame rate of one stream, with a still frame. */
    op: z.literal('camera.probe'),
    deadline: isoTime,
    cameraId: z.uuid(),
    stream: streamRole,
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    /**
     * An object event's snapshot JPEG: `full` as stored, `box` with the object's box drawn, `crop`
     * cut to the box (with a margin). Answered with `analyticsSnapshotResult`; 404 `snapshot_unknown`.
     */
    op: z.literal('analytics.snapshot'),
    deadline: isoTime,
    cameraId: z.uuid(),
    eventId: z.uuid(),
    variant: z.enum(['full', 'box', 'crop']),
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    /** Devices on the site's network: WS-Discovery and a bounded scan. `deviceDiscoverResult`. */
    op: z.literal('device.discover'),
    deadline: isoTime,
    ...discoverRequestFields,
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    /**
     * What a device is and the cameras it serves, with the credentials an installer typed:
     * `deviceProbeResult`; 422 `DEVICE_AUTH` / `DEVICE_UNREACHABLE` / `DEVICE_PROTOCOL`.
     */
    op: z.literal('device.probe'),
    deadline: isoTime,
    address: deviceAddress,
    protocol: probeProtocol,
    username: z.string().max(256).optional(),
    /** Sealed under the agent's configuration key, context `probePasswordContext(id)`. */
    passwordSealed: z.string().max(4096).optional(),
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    /**
     * A still of a device channel not added yet ("Add cameras" preview), from the device's own
     * snapshot: `cameraSnapshotResult`; 422 `DEVICE_AUTH` / `DEVICE_UNREACHABLE`.
     */
    op: z.literal('device.snapshot'),
    deadline: isoTime,
    address: deviceAddress,
    protocol: z.enum(['onvif', 'isapi', 'dahua']),
    channel: deviceChannel,
    username: z.string().max(256).optional(),
    /** Sealed under the agent's configuration key, context `probePasswordContext(id)`. */
    passwordSealed: z.string().max(4096).optional(),
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    /** A current still of a camera: `cameraSnapshotResult`. */
    op: z.literal('camera.snapshot'),
    deadline: isoTime,
    cameraId: z.uuid(),
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    /** Steer a PTZ camera: `ptzResult`; 409 `PTZ_UNSUPPORTED`. */
    op: z.literal('camera.ptz'),
    deadline: isoTime,
    cameraId: z.uuid(),
    command: ptzCommand,
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    /** A PTZ camera's presets: `ptzPresetsResult`; 409 `PTZ_UNSUPPORTED`. */
    op: z.literal('camera.ptz.presets'),
    deadline: isoTime,
    cameraId: z.uuid(),
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    op: z.literal('live.offer'),
    deadline: isoTime,
    cameraId: z.uuid(),
    /** The hub's id for the connection: `live.close` names it. */
    peerId: z.uuid(),
    /** upstream: the hub's relay, one per camera; direct: a browser that can reach the agent. */
    mode: z.enum(['upstream', 'direct']),
    /**
     * The stream the viewer prefers: `sub` for a grid tile (fewer pixels to send and decode), `main`
     * for a single view. The agent falls back to the other stream when this one is missing or not
     * H.264; the answer's `stream` says which it sends. Absent: `main` (older hubs).
     */
    stream: streamRole.optional(),
    /** The offer (complete ICE gathering); answered in the response's `result.sdp`. */
    sdp: z
      .string()
      .min(1)
      .max(64 * 1024),
    iceServers: z.array(iceServer).max(8).default([]),
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    /**
     * The hub's upstream for several cameras of this agent on one connection (a grid's tiles: one
     * ICE and DTLS handshake instead of one per camera). Only sent to agents announcing the
     * `live.bundle` feature.
     */
    op: z.literal('live.bundle'),
    deadline: isoTime,
    peerId: z.uuid(),
    /** What each video section of the offer carries, in order (a camera and stream at most once). */
    tracks: z
      .array(z.object({ cameraId: z.uuid(), stream: streamRole }))
      .min(1)
      .max(MAX_LIVE_BUNDLE_TRACKS)
      .refine(
        (tracks) => new Set(tracks.map((t) => `${t.cameraId}/${t.stream}`)).size === tracks.length,
        'a camera and stream appears twice',
      ),
    sdp: z
      .string()
      .min(1)
      .max(200 * 1024),
    iceServers: z.array(iceServer).max(8).default([]),
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    id: z.uuid(),
    op: z.literal('live.close'),
    deadline: isoTime,
    peerId: z.uuid(),
    /** One track of a `live.bundle` connection (its other tracks go on); absent: the whole connection. */
    track: z
      .number()
      .int()
      .min(0)
      .max(MAX_LIVE_BUNDLE_TRACKS - 1)
      .optional(),
  }),
])
export type DownRequest = z.infer<typeof downRequest>

/** `up/response`: the answer to a request (an export's success is its upload instead). */
export const upResponse = z.object({
  v: z.literal(PROTOCOL_VERSION),
  id: z.uuid(),
  ok: z.boolean(),
  error: partError.optional(),
  result: jsonObject.optional(),
})
export type UpResponse = z.infer<typeof upResponse>

export const recordedRangesResult = z.object({
  ranges: z
    .array(
      z.object({
        stream: streamRole,
        from: isoTime,
        to: isoTime,
        codec: shortText(64),
        width: z.number().int().nonnegative(),
        height: z.number().int().nonnegative(),
        bytes: z.number().nonnegative(),
        segments: z.number().int().nonnegative(),
        open: z.boolean(),
      }),
    )
    .max(5000),
  gaps: z
    .array(z.object({ stream: streamRole, from: isoTime, to: isoTime.nullable(), reason: shortText(500) }))
    .max(5000),
})
export type RecordedRangesResult = z.infer<typeof recordedRangesResult>

/**
 * Most base64 characters of a probe's still frame (about 146 KB of JPEG): the whole answer must fit
 * one MQTT message (MAX_PAYLOAD_BYTES). A still is scaled to at most 640 pixels wide, which is a
 * few tens of kilobytes; the agent sends none rather than one over this.
 */
export const PROBE_STILL_MAX_BASE64 = 200_000

/**
 * The answer to `camera.probe`: what the stream is (from its parameter sets), its frame rate as
 * measured over about two seconds of frames (null when too few arrived), and one still frame
 * decoded from a keyframe by ffmpeg (null, with the reason in `stillError`, when it could not be).
 */
export const cameraProbeResult = z.object({
  stream: streamRole,
  /** `h264` or `h265`. */
  codec: z.string().regex(/^[a-z0-9.-]{1,32}$/),
  width: z.number().int().min(0).max(16_384),
  height: z.number().int().min(0).max(16_384),
  fps: z.number().nonnegative().max(1000).nullable(),
  /** The codec profile, e.g. `Main`, `High`, `Main 10`. */
  profile: shortText(64).optional(),
  bitrateKbps: z.number().nonnegative().max(10_000_000).nullable().optional(),
  still: z
    .object({
      contentType: z.literal('image/jpeg'),
      base64: z
        .string()
        .min(4)
        .max(PROBE_STILL_MAX_BASE64)
        .regex(/^[A-Za-z0-9+/]+={0,2}$/),
    })
    .nullable(),
  stillError: shortText(500).optional(),
})
export type CameraProbeResult = z.infer<typeof cameraProbeResult>

/** Most media segments, and files, in one `recordings.segments` answer (it must fit one MQTT message). */
export const PLAYBACK_PAGE_PARTS = 2000
export const PLAYBACK_PAGE_FILES = 500

/**
 * The answer to `recordings.segments`: the recording files overlapping the range, oldest first,
 * each with its init key and its media segments as `[first fragment, fragments, start ms,
 * duration ms]` (wall clock). `next` is set when the page is full: ask again with `after: next`.
 */
export const recordingSegmentsResult = z
  .object({
    files: z
      .array(
        z.object({
          file: recordingFile,
          /** The file's wall-clock start (ms): its media's decode times are moved onto the wall clock from it. */
          startMs: z.number().nonnegative(),
          init: playbackInitKey,
          /** Still being recorded: its last segment may grow. */
          open: z.boolean(),
          parts: z
            .array(
              z.tuple([
                z.number().int().min(0).max(1_000_000),
                z.number().int().min(1).max(PLAYBACK_MAX_PART_FRAGMENTS),
                z.number().nonnegative(),
                z.number().positive().max(600_000),
              ]),
            )
            .min(1)
            .max(PLAYBACK_PAGE_PARTS),
        }),
      )
      .max(PLAYBACK_PAGE_FILES),
    next: playbackCursor.optional(),
  })
  .refine((r) => r.files.reduce((n, f) => n + f.parts.length, 0) <= PLAYBACK_PAGE_PARTS, {
    message: `at most ${PLAYBACK_PAGE_PARTS} segments a page`,
  })
export type RecordingSegmentsResult = z.infer<typeof recordingSegmentsResult>

/** What a playback upload says about itself (header `x-vms-segment`, JSON). */
export const segmentUploadMeta = z.object({
  kind: z.enum(['init', 'media']),
  bytes: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
})
export type SegmentUploadMeta = z.infer<typeof segmentUploadMeta>

/** Largest snapshot an agent sends back in a response (base64 of ~180 KB, within the payload limit). */
export const SNAPSHOT_MAX_BASE64 = 240 * 1024

/** The answer to `analytics.snapshot`. */
export const analyticsSnapshotResult = z.object({
  contentType: z.literal('image/jpeg'),
  base64: z
    .string()
    .min(4)
    .max(SNAPSHOT_MAX_BASE64)
    .regex(/^[A-Za-z0-9+/]+={0,2}$/),
  width: z.number().int().positive().max(16_384),
  height: z.number().int().positive().max(16_384),
})
export type AnalyticsSnapshotResult = z.infer<typeof analyticsSnapshotResult>

/** What an export upload says about itself (header `x-vms-export`, JSON). */
export const exportMeta = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().positive(),
  start: isoTime,
  end: isoTime,
  frames: z.number().int().positive(),
  codec: shortText(64),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  segments: z.number().int().positive(),
  truncatedAt: isoTime.optional(),
})
export type ExportMeta = z.infer<typeof exportMeta>

/** Parses a JSON payload with a schema; never throws. */
export function decode<T extends z.ZodType>(
  schema: T,
  payload: Buffer | string,
): { ok: true; value: z.output<T> } | { ok: false; error: string } {
  if (payload.length > MAX_PAYLOAD_BYTES) return { ok: false, error: 'oversize' }
  let json: unknown
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'))
  } catch {
    return { ok: false, error: 'malformed' }
  }
  const parsed = schema.safeParse(json)
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, error: 'invalid' }
}

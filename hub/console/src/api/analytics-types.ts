/**
 * Edge analytics as the console uses it (issue 13): object events, a camera's analytics
 * configuration and status, and motion activity for the playback timeline. The hub's OpenAPI is the
 * authority; `docs/analytics.md` describes the fields.
 */
import type { Camera, VmsEvent } from './types.ts'

/** A point in relative coordinates: 0..1 across and down the picture. */
export type Point = [number, number]
export type Polygon = Point[]

export interface AnalyticsZone {
  name: string
  polygon: Polygon
  /** Absent: every object the camera detects. */
  objects?: string[]
  inertia: number
  loiterSeconds: number
}

/** A camera's stored analytics configuration, defaults applied. */
export interface AnalyticsConfig {
  enabled: boolean
  stream?: 'main' | 'sub'
  fps: number
  model: string
  objects: string[]
  minScore: number
  threshold: number
  minArea: number
  maxArea?: number
  zones: AnalyticsZone[]
  motionMasks: Polygon[]
  objectMasks: Polygon[]
  /**
   * Where the motion comes from: `agent`, its own picture analysis (motion boxes: detection looks
   * only where something moves); `device`, the camera's own motion events (needs a device with
   * events on; detection then looks at the whole frame while the camera reports motion). The hub
   * always sends it; optional so the `Camera` of `api/types.ts`, which lacks it, still fits.
   */
  motionSource?: MotionSource
}

export type MotionSource = 'agent' | 'device'

/** What a PATCH may carry under `analytics` (a merge patch: lists are replaced whole). */
export type AnalyticsConfigPatch = Partial<{ [K in keyof AnalyticsConfig]: AnalyticsConfig[K] | null }>

/** The agent's word on a camera's analytics, from its last heartbeat. */
export interface AnalyticsStatus {
  state: 'running' | 'disabled' | 'error'
  error?: string
  fps: number
  inferenceMsP50: number
  /** The share of frames the motion gate let through without inference, 0..1. */
  skippedByMotion: number
}

/** A camera as the API returns it with analytics (until `api/types.ts` has the fields). */
export type AnalyticsCamera = Camera & {
  analyticsConfig?: AnalyticsConfig
  analytics?: AnalyticsStatus | null
}

export interface ObjectEventData {
  label: string
  score: number
  startTime: string
  /** Null while the object is still in view. */
  endTime: string | null
  zones: string[]
  /** [x1, y1, x2, y2], relative 0..1. */
  box: [number, number, number, number]
  stationary: boolean
  loitering: boolean
  hasSnapshot: boolean
}

export type ObjectEvent = VmsEvent & { type: 'object'; cameraId: string; data: ObjectEventData }

/** An event of type `object` with the data the console relies on. */
export function isObjectEvent(e: VmsEvent): e is ObjectEvent {
  const d = e.data as Partial<ObjectEventData>
  return e.type === 'object' && typeof e.cameraId === 'string' && typeof d.label === 'string'
}

export interface ActivityBucket {
  /** ISO time the bucket starts. */
  start: string
  motionSeconds: number
  /** Object events that started in the bucket, by label. */
  objects: Record<string, number>
}

export interface CameraActivity {
  bucketSeconds?: number
  buckets: ActivityBucket[]
}

/** The COCO labels people ask for most, offered as checkboxes (others can be typed). */
export const COMMON_LABELS = [
  'person',
  'bicycle',
  'car',
  'motorcycle',
  'bus',
  'truck',
  'bird',
  'cat',
  'dog',
  'horse',
  'backpack',
  'handbag',
  'suitcase',
] as const

export type ModelFormat = 'yolox' | 'yolov8'

/** An analytics model as `GET /api/v1/models` lists it (never its bytes); `default` is built in. */
export interface AnalyticsModel {
  id: string
  format: ModelFormat
  /** The class names in the model's order. */
  labels: string[]
  builtIn: boolean
  /** Uploaded models only. */
  sha256?: string
  bytes?: number
  createdAt?: string
}

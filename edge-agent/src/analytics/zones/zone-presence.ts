/**
 * Which zones each tracked object is in, with hysteresis both ways, and whether it is loitering.
 *
 * Frigate counts an object into a zone after `inertia` frames with its bottom-centre inside (frames
 * outside do not restart the count), but drops it from the zone on the first frame outside and,
 * having once reached the inertia, lets it back in at once. A box jittering across the zone's edge
 * then flips in and out every frame, and every flip is an event update. Here leaving mirrors
 * entering: `inertia` consecutive frames outside. Both counts are strictly consecutive (one frame
 * the other way restarts them), so a single bad box neither enters nor leaves a zone.
 *
 * Frigate's `loitering_time` delays the zone entry itself (the object is not in the zone until it
 * has stayed that long). Here entering and loitering are separate: an object is in the zone after
 * the inertia, and loitering once it has stood there `loiterSeconds` by frame time, so an event
 * can report both "entered the entrance" and, later, "loitering at the entrance".
 */
import { boxBottomCentre, pointInPolygon } from '@ts-vms/shared'
import type { Box, Polygon } from '../types.ts'
import { requireSimplePolygon } from './object-filter.ts'

/** Frigate's default zone inertia, in frames. */
export const DEFAULT_INERTIA = 3

export interface ZoneConfig {
  name: string
  /** Relative coordinates (0..1). */
  polygon: Polygon
  /** Labels this zone is for; absent = every label. An empty list is refused, as the config schema does. */
  objects?: readonly string[]
  /** Consecutive frames inside to enter, and outside to leave; default {@link DEFAULT_INERTIA}. */
  inertia?: number
  /** Seconds in the zone after which the object is loitering; 0 (default) = never. */
  loiterSeconds?: number
}

/** What an object's zones are now. */
export interface ObjectZones {
  /** Zones the object is in, in configuration order. */
  currentZones: string[]
  /** Every zone the object has entered, each once, in the order it first entered them. */
  enteredZones: string[]
  /** Whether it is loitering in any zone it is in. */
  loitering: boolean
}

/** What one frame changed, plus the state after it, so the events layer can emit one update. */
export interface ZoneUpdate extends ObjectZones {
  entered: string[]
  left: string[]
  loiteringStarted: string[]
  /** Whether anything above changed this frame. */
  changed: boolean
}

interface Zone {
  name: string
  polygon: Polygon
  /** undefined = every label. */
  labels: ReadonlySet<string> | undefined
  inertia: number
  loiterMs: number
}

/** One object in one zone. */
interface Presence {
  inside: boolean
  /** Consecutive frames disagreeing with `inside`. */
  streak: number
  /** Frame time the current streak began. */
  streakStart: number
  /** Frame time the object first stood in the zone on the run that got it in. */
  insideSince: number
  loitering: boolean
}

interface ObjectState {
  presence: Presence[]
  entered: string[]
}

export class ZonePresence {
  readonly #zones: Zone[]
  readonly #width: number
  readonly #height: number
  readonly #objects = new Map<string, ObjectState>()

  /** `width`/`height`: the analytics frame the boxes given to {@link update} are in, in pixels. */
  constructor(zones: readonly ZoneConfig[], frame: { width: number; height: number }) {
    if (!(frame.width > 0 && frame.height > 0 && Number.isFinite(frame.width * frame.height))) {
      throw new RangeError('frame width and height must be positive numbers')
    }
    this.#width = frame.width
    this.#height = frame.height
    this.#zones = zones.map(validZone)
    const names = new Set(this.#zones.map((zone) => zone.name))
    if (names.size !== this.#zones.length) throw new RangeError('zone names must be unique')
  }

  /**
   * Feeds one frame of a tracked object: `box` in frame pixels, `time` the frame's own time in ms
   * (never the clock, so replays and tests behave as live). Call once per frame the object is
   * tracked in: inertia counts these calls.
   */
  update(objectId: string, label: string, box: Box, time: number): ZoneUpdate {
    const state = this.#stateOf(objectId)
    // Where the object touches the ground: a zone is a patch of floor, and the rest of the box
    // leans over whatever is behind or in front of it.
    const feet = boxBottomCentre(box, this.#width, this.#height)
    const entered: string[] = []
    const left: string[] = []
    const loiteringStarted: string[] = []
    this.#zones.forEach((zone, index) => {
      const presence = state.presence[index]!
      // A label the zone is not for counts as outside, so a relabelled track leaves like any other.
      const seen = (zone.labels?.has(label) ?? true) && pointInPolygon(feet, zone.polygon)
      if (seen === presence.inside) {
        presence.streak = 0
      } else {
        if (presence.streak === 0) presence.streakStart = time
        presence.streak += 1
        if (presence.streak >= zone.inertia) {
          presence.inside = seen
          presence.streak = 0
          if (seen) {
            // The object stood there since the streak began; inertia only confirmed it.
            presence.insideSince = presence.streakStart
            entered.push(zone.name)
            if (!state.entered.includes(zone.name)) state.entered.push(zone.name)
          } else {
            presence.loitering = false
            left.push(zone.name)
          }
        }
      }
      // `>=` is false for NaN times, so a broken clock never makes anyone loiter.
      if (presence.inside && !presence.loitering && zone.loiterMs > 0) {
        if (time - presence.insideSince >= zone.loiterMs) {
          presence.loitering = true
          loiteringStarted.push(zone.name)
        }
      }
    })
    const changed = entered.length > 0 || left.length > 0 || loiteringStarted.length > 0
    return { ...this.#snapshot(state), entered, left, loiteringStarted, changed }
  }

  /** An object's zones without feeding a frame; undefined for an object never updated (or forgotten). */
  zonesOf(objectId: string): ObjectZones | undefined {
    const state = this.#objects.get(objectId)
    return state && this.#snapshot(state)
  }

  /** Drops an object whose track ended. */
  forget(objectId: string): void {
    this.#objects.delete(objectId)
  }

  #stateOf(objectId: string): ObjectState {
    let state = this.#objects.get(objectId)
    if (!state) {
      state = {
        presence: this.#zones.map(() => ({
          inside: false,
          streak: 0,
          streakStart: 0,
          insideSince: 0,
          loitering: false,
        })),
        entered: [],
      }
      this.#objects.set(objectId, state)
    }
    return state
  }

  #snapshot(state: ObjectState): ObjectZones {
    return {
      currentZones: this.#zones.filter((_, i) => state.presence[i]!.inside).map((zone) => zone.name),
      enteredZones: [...state.entered],
      loitering: state.presence.some((presence) => presence.loitering),
    }
  }
}

function validZone(config: ZoneConfig): Zone {
  if (config.name.length === 0) throw new RangeError('a zone needs a name')
  requireSimplePolygon(`zone ${config.name}`, config.polygon)
  // Frigate reads an empty list as every label, a reader of the config as none: refused, not guessed.
  if (config.objects?.length === 0) throw new RangeError(`zone ${config.name} objects is empty`)
  const inertia = config.inertia ?? DEFAULT_INERTIA
  if (!(Number.isInteger(inertia) && inertia >= 1)) {
    throw new RangeError(`zone ${config.name} inertia must be a whole number of frames, at least 1`)
  }
  const loiterSeconds = config.loiterSeconds ?? 0
  if (!(Number.isFinite(loiterSeconds) && loiterSeconds >= 0)) {
    throw new RangeError(`zone ${config.name} loiterSeconds must be 0 or more`)
  }
  return {
    name: config.name,
    polygon: config.polygon,
    labels: config.objects && new Set(config.objects),
    inertia,
    loiterMs: loiterSeconds * 1000,
  }
}

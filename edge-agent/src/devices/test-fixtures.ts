import { randomBytes, randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import net from 'node:net'
import {
  type AgentCamera,
  type AgentCameraDevice,
  agentCamera,
  devicePasswordContext,
  SecretBox,
} from '@ts-vms/shared'
import pino, { type Logger } from 'pino'
import { afterEach, expect } from 'vitest'
import type { z } from 'zod'
import { TestDahuaDevice } from './dahua/test-dahua-device.ts'
import { DeviceError } from './device-probe.ts'
import { TestIsapiDevice } from './isapi/test-isapi-device.ts'
import { TestOnvifDevice, type TestOnvifDeviceOptions } from './onvif/test-onvif-server.ts'

/**
 * What the device tests share (not a test itself: no `.test.` in the name): the fake devices,
 * started and stopped after each test; cameras bound to a device with a sealed password; waits
 * on a condition; a logger whose lines a test reads.
 *
 * Importing it registers one `afterEach` in the importing test file that runs the cleanups
 * (`onCleanup`), last registered first: what was built on a device goes before the device.
 */

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** Runs `fn` after the current test (after those registered later). */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn)
}

/** Waits for a condition (the timers under test are short; the bound is only a safety net). */
export async function waitFor(pred: () => boolean, what = 'a condition', ms = 5000): Promise<void> {
  const until = Date.now() + ms
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** The DeviceError `p` must fail with. */
export async function failure(p: Promise<unknown>): Promise<DeviceError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(DeviceError)
    return err as DeviceError
  }
  throw new Error('expected a failure')
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}

// ---------------------------------------------------------------------------------------------
// Fake devices

/** Starts a fake device, stopped after the test; with the URL it serves at. */
async function started<D extends { start(): Promise<string>; stop(): Promise<void> }>(
  d: D,
): Promise<{ d: D; url: string }> {
  const url = await d.start()
  onCleanup(() => d.stop())
  return { d, url }
}

/** A fake ONVIF device and its device service URL. */
export const onvifDevice = (o: TestOnvifDeviceOptions = {}) => started(new TestOnvifDevice(o))

/** A fake Hikvision (ISAPI) device; its `url` is the base URL. */
export const isapiDevice = async (o: ConstructorParameters<typeof TestIsapiDevice>[0] = {}) =>
  (await started(new TestIsapiDevice(o))).d

/** A fake Dahua (CGI) device; its `url` is the base URL. */
export const dahuaDevice = async (o: ConstructorParameters<typeof TestDahuaDevice>[0] = {}) =>
  (await started(new TestDahuaDevice(o))).d

// ---------------------------------------------------------------------------------------------
// Cameras bound to a device

/** The agent's configuration key, and the box device passwords are sealed in for it. */
export const CONFIG_KEY = randomBytes(32).toString('base64')
export const configBox = new SecretBox(Buffer.from(CONFIG_KEY, 'base64'))

/** A camera's device as a test writes it: `password` in clear, sealed for the camera (or `sealFor`). */
export type TestCameraDevice = Partial<AgentCameraDevice> & { password?: string; sealFor?: string }

/**
 * A camera as the hub publishes it to the agent, bound to `device` (none when undefined), its
 * password sealed as the hub seals it: for this camera's id, or for `sealFor` (one that must not
 * open). No streams unless `camera` gives them.
 */
export function deviceCamera(
  device: TestCameraDevice | undefined,
  camera: Partial<z.input<typeof agentCamera>> = {},
): AgentCamera {
  const id = camera.id ?? randomUUID()
  const { password, sealFor, ...d } = device ?? {}
  return agentCamera.parse({
    id,
    name: `camera ${id.slice(0, 4)}`,
    streams: [],
    recording: {},
    ...camera,
    ...(device
      ? {
          device: {
            ...d,
            ...(password !== undefined
              ? { passwordSealed: configBox.seal(password, devicePasswordContext(sealFor ?? id)) }
              : {}),
          },
        }
      : {}),
  })
}

// ---------------------------------------------------------------------------------------------
// Loggers

/** For code under test whose logs no test reads. */
export const silentLogger: Logger = pino({ level: 'silent' })

/** A debug logger whose lines the test reads (what was logged, and that no secret was). */
export function capturingLogger(): { logger: Logger; lines: string[]; text: () => string } {
  const lines: string[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) })
  return { logger, lines, text: () => lines.join('') }
}

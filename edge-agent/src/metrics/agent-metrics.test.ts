import { describe, expect, it } from 'vitest'
import { AgentMetrics, type CameraSample } from './agent-metrics.ts'

const at = new Date().toISOString()

function source(cameras: CameraSample[]) {
  return new AgentMetrics({
    cameras: () => cameras,
    disks: async () => [
      { disk: 'data', freeBytes: 1000, totalBytes: 4000 },
      { disk: 'recordings', freeBytes: 2000, totalBytes: 8000 },
    ],
    outbox: () => ({ depth: 7, bytes: 1234 }),
  })
}

/** The value of one series in the exposition text. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('AgentMetrics', () => {
  const door: CameraSample = {
    id: 'c1',
    name: 'Door "front"\\back',
    streams: [
      { role: 'main', state: 'streaming', bitrateBps: 2_000_000, fps: 15, droppedFrames: 3, reconnects: 2 },
    ],
    probe: { reachable: true, latencyMs: null, at },
  }
  const yard: CameraSample = {
    id: 'c2',
    name: 'Yard',
    streams: [],
    probe: { reachable: false, latencyMs: 12.5, at, error: 'refused' },
  }

  it('serves stream state, rates, counts, probes, disks and the outbox', async () => {
    const cameras = [door, yard]
    const text = await source(cameras).metrics()
    const s = (name: string) =>
      `${name}{camera_id="c1",camera_name="Door \\"front\\"\\\\back",stream="main",service="ts-vms-agent"}`
    expect(value(text, s('vms_agent_stream_up'))).toBe(1)
    expect(value(text, s('vms_agent_stream_bitrate_bits_per_second'))).toBe(2_000_000)
    expect(value(text, s('vms_agent_stream_fps'))).toBe(15)
    expect(value(text, s('vms_agent_stream_dropped_frames_total'))).toBe(3)
    expect(value(text, s('vms_agent_stream_reconnects_total'))).toBe(2)
    expect(text).toContain('# TYPE vms_agent_stream_reconnects_total counter')
    expect(
      value(text, 'vms_agent_camera_reachable{camera_id="c2",camera_name="Yard",service="ts-vms-agent"}'),
    ).toBe(0)
    expect(
      value(
        text,
        'vms_agent_camera_probe_latency_seconds{camera_id="c2",camera_name="Yard",service="ts-vms-agent"}',
      ),
    ).toBe(0.0125)
    // A streaming camera was not asked: no latency for it.
    expect(text).not.toMatch(/vms_agent_camera_probe_latency_seconds\{camera_id="c1"/)
    expect(value(text, 'vms_agent_disk_free_bytes{disk="recordings",service="ts-vms-agent"}')).toBe(2000)
    expect(value(text, 'vms_agent_disk_total_bytes{disk="data",service="ts-vms-agent"}')).toBe(4000)
    expect(value(text, 'vms_agent_outbox_depth{service="ts-vms-agent"}')).toBe(7)
    expect(value(text, 'vms_agent_outbox_bytes{service="ts-vms-agent"}')).toBe(1234)
    expect(text).toContain('vms_agent_process_cpu_seconds_total')
  })

  it('drops the series of a camera that went away, and follows a stream that restarted', async () => {
    const cameras = [door, yard]
    const metrics = source(cameras)
    await metrics.metrics()
    cameras.splice(1, 1)
    cameras[0] = {
      ...door,
      streams: [{ ...(door.streams[0] as CameraSample['streams'][number]), reconnects: 0, state: 'backoff' }],
    }
    const text = await metrics.metrics()
    expect(text).not.toContain('camera_id="c2"')
    expect(text).toMatch(/vms_agent_stream_up\{camera_id="c1"[^}]*\} 0/)
    expect(text).toMatch(/vms_agent_stream_reconnects_total\{camera_id="c1"[^}]*\} 0/)
  })
})

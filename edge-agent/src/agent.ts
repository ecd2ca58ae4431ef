import path from 'node:path'
import { type AgentConfig, agentConfig, type DownConfig } from '@ts-vms/shared'
import type { Logger } from 'pino'
import type { AgentSettings } from './config.ts'
import { readCredentials } from './credentials.ts'
import { AGENT_VERSION } from './enroll.ts'
import { healthSample } from './health.ts'
import { HubLink } from './link/hub-link.ts'
import { Outbox } from './outbox/outbox.ts'

export const outboxFile = (dataDir: string) => path.join(dataDir, 'outbox.db')

/**
 * The edge agent: its outbox, its link to the hub, heartbeats and its applied configuration.
 * Media, recording and analytics plug in here as later issues land.
 */
export class EdgeAgent {
  readonly outbox: Outbox
  private readonly link: HubLink
  private heartbeat: NodeJS.Timeout | undefined
  private readonly startedAt = Date.now()
  private stopped = false
  config: { version: number; config: AgentConfig }

  constructor(
    private readonly settings: AgentSettings,
    private readonly logger: Logger,
  ) {
    const credentials = readCredentials(settings.VMS_AGENT_DATA_DIR)
    this.outbox = new Outbox(outboxFile(settings.VMS_AGENT_DATA_DIR), settings.VMS_AGENT_OUTBOX_MAX_BYTES)
    // An agent that starts offline runs on its last applied configuration.
    const saved = this.outbox.getSetting('config')
    this.config = saved
      ? (JSON.parse(saved) as { version: number; config: AgentConfig })
      : { version: 0, config: agentConfig.parse({}) }
    this.link = new HubLink({
      credentials,
      outbox: this.outbox,
      logger,
      version: AGENT_VERSION,
      batchMax: settings.VMS_AGENT_BATCH_MAX,
      maxInflight: settings.VMS_AGENT_MAX_INFLIGHT,
      ackTimeoutMs: settings.VMS_AGENT_ACK_TIMEOUT_MS,
      onConfig: (c) => this.applyConfig(c),
    })
  }

  get agentId(): string {
    return readCredentials(this.settings.VMS_AGENT_DATA_DIR).agentId
  }

  get connected(): boolean {
    return this.link.connected
  }

  start(): void {
    this.link.start()
    this.scheduleHeartbeat()
    void this.beat()
  }

  private scheduleHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.heartbeat = setInterval(() => void this.beat(), this.config.config.heartbeatSeconds * 1000)
    this.heartbeat.unref()
  }

  private async beat(): Promise<void> {
    if (this.stopped) return
    try {
      const sample = await healthSample({
        dataDir: this.settings.VMS_AGENT_DATA_DIR,
        outbox: this.outbox,
        startedAt: this.startedAt,
        version: AGENT_VERSION,
        configVersion: this.config.version,
      })
      if (this.stopped) return // stopped while the sample was being taken
      this.outbox.append('health', sample)
      void this.link.pump()
    } catch (err) {
      this.logger.warn({ err }, 'heartbeat failed')
    }
  }

  /** Applies a desired configuration newer than the one in force, persists it and reports it. */
  applyConfig(desired: DownConfig): void {
    if (desired.version <= this.config.version) return
    const previous = this.config
    this.config = { version: desired.version, config: desired.config }
    this.outbox.setSetting('config', JSON.stringify(this.config))
    if (previous.config.heartbeatSeconds !== desired.config.heartbeatSeconds) this.scheduleHeartbeat()
    this.outbox.append('state', { configVersion: desired.version })
    this.outbox.append('audit', {
      action: 'agent.config.apply',
      outcome: 'success',
      actor: { type: 'system', name: 'agent' },
      target: { type: 'agent_config', id: String(desired.version) },
      details: { from: previous.version, to: desired.version },
    })
    this.logger.info({ version: desired.version }, 'applied a new configuration')
    void this.link.pump()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.heartbeat) clearInterval(this.heartbeat)
    await this.link.stop()
    this.outbox.close()
  }
}

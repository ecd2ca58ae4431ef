import net from 'node:net'
import tls from 'node:tls'
import { parseTopic } from '@ts-vms/shared'
import { Aedes, type AuthenticateError, type Client } from 'aedes'
import type { Logger } from 'pino'
import {
  type AddressCounter,
  limitConnectionsPerAddress,
  normaliseAddress,
} from '../net/connection-limits.ts'
import type { AgentBus, AgentMessage } from './agent-bus.ts'
import { GuardedConnection, MAX_CONNECT_BYTES, MAX_PACKET_BYTES } from './packet-guard.ts'
import type { BrokerTls } from './tls-cert.ts'

export interface AgentAuthenticator {
  /** True when the agent exists, is neither disabled nor revoked, and the secret is its own. */
  verify(agentId: string, secret: Buffer | undefined): Promise<boolean>
}

/**
 * The embedded MQTT broker (aedes). Authentication: client id = username = agent id, password =
 * the agent's secret. Authorisation: an agent publishes only under `vms/v1/agents/<own id>/up/`
 * and subscribes only under `vms/v1/agents/<own id>/down/`; everything else is refused.
 *
 * Resource limits (issue 10): every connection passes through a GuardedConnection, which refuses a
 * packet over MAX_PACKET_BYTES (a CONNECT over MAX_CONNECT_BYTES) at its length header and drops
 * a client not authenticated within `connectTimeoutMs`; connections per address are capped.
 */
export class EmbeddedBroker implements AgentBus {
  private handler: (m: AgentMessage) => Promise<void> = async () => {}
  private presence: (agentId: string, connected: boolean) => void = () => {}
  private readonly expelled = new Set<string>()

  private constructor(
    private readonly aedes: Aedes,
    private readonly server: net.Server,
    private readonly connections: AddressCounter,
    private readonly sockets: Set<net.Socket>,
    readonly port: number,
    readonly description: string,
  ) {}

  /** Open connections from this client address (tests, diagnostics). */
  connectionsFrom(address: string): number {
    return this.connections.count(address)
  }

  static async start(options: {
    host: string
    port: number
    tls?: BrokerTls
    auth: AgentAuthenticator
    logger: Logger
    onRejected: (reason: string) => void
    /** Time for the TLS handshake, and again from then to an authenticated CONNECT. */
    connectTimeoutMs: number
    maxConnectionsPerAddress: number
  }): Promise<EmbeddedBroker> {
    const { auth, logger } = options
    let self: EmbeddedBroker | undefined
    const fail = (code: number, message: string): AuthenticateError =>
      Object.assign(new Error(message), { returnCode: code }) as AuthenticateError
    const aedes = await Aedes.createBroker({
      heartbeatInterval: 60_000,
      // A backstop: the guard's own deadline (the same length, started earlier) fires first.
      connectTimeout: options.connectTimeoutMs * 2,
      authenticate(client, username, password, done) {
        if (!client.id || username !== client.id || self?.expelled.has(client.id)) {
          done(fail(4, 'bad credentials'), false)
          return
        }
        auth.verify(client.id, password).then(
          (ok) => {
            // Only now may the client's packets behind its CONNECT reach the broker.
            if (ok && client.conn instanceof GuardedConnection) client.conn.admit()
            done(ok ? null : fail(4, 'bad credentials'), ok)
          },
          (err: unknown) => {
            logger.warn({ err, agentId: client.id }, 'mqtt: authentication failed to run')
            done(fail(3, 'server unavailable'), false)
          },
        )
      },
      authorizePublish(client, packet, callback) {
        if (!client) return callback(null) // the hub's own publications
        const topic = parseTopic(packet.topic)
        const ok =
          topic?.agentId === client.id &&
          topic.direction === 'up' &&
          (topic.kind === 'messages' ||
            topic.kind === 'status' ||
            topic.kind === 'response' ||
            topic.kind === 'objects') &&
          (!packet.retain || topic.kind === 'status')
        if (!ok) {
          options.onRejected('acl')
          logger.warn({ agentId: client.id, topic: packet.topic }, 'mqtt: publish refused')
          return callback(new Error('not authorised'))
        }
        callback(null)
      },
      authorizeSubscribe(client, subscription, callback) {
        const prefix = `vms/v1/agents/${client.id}/down/`
        const t = subscription.topic
        const ok = t.startsWith(prefix) && !t.slice(prefix.length).includes('+') && !t.startsWith('$share')
        if (!ok) {
          options.onRejected('acl')
          logger.warn({ agentId: client.id, topic: t }, 'mqtt: subscription refused')
          // A null subscription answers "refused" (0x80) in the SUBACK and keeps the connection.
          return callback(null, null)
        }
        callback(null, subscription)
      },
    })
    aedes.on('publish', (packet, client) => {
      if (!client || !self) return
      const topic = parseTopic(packet.topic)
      if (topic?.direction !== 'up') return
      self
        .handler({
          agentId: topic.agentId,
          kind: topic.kind,
          payload: Buffer.from(packet.payload),
          receivedAt: Date.now(),
        })
        .catch((err) => logger.error({ err, agentId: topic.agentId }, 'mqtt: handling a message failed'))
    })
    aedes.on('clientReady', (client: Client) => self?.presence(client.id, true))
    aedes.on('clientDisconnect', (client: Client) => self?.presence(client.id, false))
    aedes.on('clientError', (client: Client, err: Error) =>
      logger.debug({ agentId: client.id, err: err.message }, 'mqtt: client error'),
    )

    const handle = (socket: net.Socket) => {
      const address = normaliseAddress(socket.remoteAddress)
      const conn = new GuardedConnection(socket, {
        admitWithinMs: options.connectTimeoutMs,
        onTimeout: () => {
          options.onRejected('connect_timeout')
          logger.info({ address }, 'mqtt: no authenticated CONNECT in time; connection dropped')
        },
        onViolation: (v) => {
          options.onRejected(v.reason === 'too_large' ? 'packet_too_large' : 'malformed_packet')
          logger.warn(
            {
              address,
              reason: v.reason,
              packetType: v.type,
              declaredBytes: v.remainingLength,
              limit: v.type === 1 ? MAX_CONNECT_BYTES : MAX_PACKET_BYTES,
            },
            'mqtt: packet refused at its header; connection closed',
          )
        },
      })
      aedes.handle(conn)
    }
    const server = options.tls
      ? tls.createServer(
          {
            cert: options.tls.cert,
            key: options.tls.key,
            minVersion: 'TLSv1.2',
            handshakeTimeout: options.connectTimeoutMs,
          },
          handle,
        )
      : net.createServer(handle)
    // With a listener, Node leaves closing the failed connection to it.
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') options.onRejected('connect_timeout')
      socket.destroy()
    })
    // Connections that never reached aedes (mid-handshake) would keep server.close() waiting.
    const sockets = new Set<net.Socket>()
    server.on('connection', (socket: net.Socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    })
    const connections = limitConnectionsPerAddress(server, {
      max: options.maxConnectionsPerAddress,
      onRefused: (address) => {
        options.onRejected('too_many_connections')
        logger.debug({ address }, 'mqtt: too many connections from this address; refused')
      },
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE' ? new Error(`VMS_MQTT_PORT: ${options.port} is already in use`) : err,
        ),
      )
      server.listen(options.port, options.host, () => resolve())
    })
    const port = (server.address() as net.AddressInfo).port
    self = new EmbeddedBroker(
      aedes,
      server,
      connections,
      sockets,
      port,
      `embedded MQTT broker on ${options.tls ? 'mqtts' : 'mqtt'}://${options.host}:${port}`,
    )
    logger.info({ port, tls: Boolean(options.tls) }, 'embedded MQTT broker listening')
    return self
  }

  onMessage(handler: (message: AgentMessage) => Promise<void>): void {
    this.handler = handler
  }

  onPresence(handler: (agentId: string, connected: boolean) => void): void {
    this.presence = handler
  }

  publish(topic: string, payload: string, options: { retain?: boolean } = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.aedes.publish(
        {
          cmd: 'publish',
          topic,
          payload: Buffer.from(payload),
          qos: 1,
          retain: options.retain ?? false,
          dup: false,
        },
        (err?: Error) => (err ? reject(err) : resolve()),
      )
    })
  }

  async admit(agentId: string): Promise<void> {
    this.expelled.delete(agentId)
  }

  async readmit(agentId: string): Promise<void> {
    this.expelled.delete(agentId)
  }

  isConnected(agentId: string): boolean {
    const clients = (this.aedes as unknown as { clients: Record<string, Client | undefined> }).clients
    return clients[agentId] !== undefined
  }

  async expel(agentId: string): Promise<void> {
    this.expelled.add(agentId)
    const clients = (this.aedes as unknown as { clients: Record<string, Client | undefined> }).clients
    const client = clients[agentId]
    if (client) await new Promise<void>((resolve) => client.close(() => resolve()))
  }

  async close(): Promise<void> {
    // The hub is going away: what the closing connections would report is not news.
    this.presence = () => {}
    this.handler = async () => {}
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()))
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve())
      for (const socket of this.sockets) socket.destroy()
    })
  }
}

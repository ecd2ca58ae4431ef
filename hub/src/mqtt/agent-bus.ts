/**
 * How the hub talks to agents, whatever the broker: the embedded aedes broker (one hub) or an
 * external one such as Mosquitto (a fleet of hubs sharing the load through shared subscriptions).
 */
export interface AgentMessage {
  agentId: string
  /** The `up/<kind>` of the topic. */
  kind: string
  payload: Buffer
  /** When this hub received it (ms): against an agent's `sentAt`, the agent's clock offset. */
  receivedAt?: number
}

export interface AgentBus {
  /** The handler resolves when the message is dealt with; the bus may hold back more meanwhile. */
  onMessage(handler: (message: AgentMessage) => Promise<void>): void
  /** Connection state changes that the broker itself observed (embedded broker only). */
  onPresence(handler: (agentId: string, connected: boolean) => void): void
  /**
   * Whether the agent holds a connection now, when the bus can tell (embedded broker); undefined
   * when it cannot (external broker). A message processed after its sender disconnected must not
   * mark the agent online again.
   */
  isConnected?(agentId: string): boolean | undefined
  publish(topic: string, payload: string, options?: { retain?: boolean }): Promise<void>
  /** Admits an agent (external broker: creates its broker account). */
  admit(agentId: string, secret: string): Promise<void>
  /** Cuts an agent off at once and keeps it out. */
  expel(agentId: string): Promise<void>
  /** Lets a disabled agent back in (external broker: re-enables its account). */
  readmit(agentId: string): Promise<void>
  close(): Promise<void>
  readonly description: string
}

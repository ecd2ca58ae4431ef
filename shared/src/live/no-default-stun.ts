import { Connection } from 'werift'

/**
 * werift asks Google's public STUN server (stun.l.google.com:19302) for a server-reflexive
 * candidate whenever a connection has no STUN server configured. A VMS must not: every live
 * connection would announce itself to a third party, and on a site without internet access (most
 * camera networks) each ICE gathering waits up to werift's 5 s STUN timeout — measured as 5 s
 * stalls when a 16-tile grid opened its upstreams at once. STUN is configured explicitly here
 * (VMS_ICE_SERVERS on the hub, passed on to agents), so the default goes: a connection without a
 * STUN server gathers host candidates only, which is what loopback, LAN and the hub's relay use.
 *
 * werift sets the default in its ICE Connection's constructor and then calls `restart()`, before
 * any gathering; the patch clears it there. It is applied once, by importing the live module.
 */
const DEFAULT_STUN_HOST = 'stun.l.google.com'

interface IceConnectionInternals {
  options: { stunServer?: unknown }
  stunServer?: [string, number]
  restart(): Promise<void>
}

let installed = false

export function disableDefaultStun(): void {
  if (installed) return
  installed = true
  const proto = Connection.prototype as unknown as IceConnectionInternals
  const restart = proto.restart
  proto.restart = function (this: IceConnectionInternals) {
    if (this.options.stunServer === undefined && this.stunServer?.[0] === DEFAULT_STUN_HOST)
      this.stunServer = undefined
    return restart.call(this)
  }
}

/** The STUN server a werift ICE connection would ask (for tests). */
export function stunServerOf(connection: unknown): [string, number] | undefined {
  return (connection as IceConnectionInternals).stunServer
}

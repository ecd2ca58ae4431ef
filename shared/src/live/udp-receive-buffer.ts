import { UdpTransport } from 'werift'

/**
 * werift's ICE sockets keep the system's default receive buffer (Linux: 208 KB of kernel memory,
 * about ninety 1200-byte packets with their overhead). A grid's upstream brings sixteen GOP
 * replays at once, and the hub's event loop, busy answering the viewer and writing its audit
 * records, may not read for a few tens of milliseconds: the kernel then drops what does not fit,
 * a section loses its keyframe and its tile waits for the camera's next one (measured: 6 of 16
 * tiles a GOP late, with `RcvbufErrors` rising in /proc/net/snmp). Each socket asks for 4 MB;
 * the kernel caps the request at `net.core.rmem_max` (the docs say how to raise it), so this
 * never fails, it only helps as far as the system allows.
 *
 * werift creates its sockets in `UdpTransport.init`; the patch sets the size once bound. It is
 * applied once, by importing the live module.
 */
export const UDP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024

interface UdpTransportInternals {
  socket: { setRecvBufferSize(size: number): void; getRecvBufferSize(): number }
  init(): Promise<void>
}

let installed = false

export function enlargeUdpReceiveBuffers(): void {
  if (installed) return
  installed = true
  const proto = UdpTransport.prototype as unknown as UdpTransportInternals
  const init = proto.init
  proto.init = async function (this: UdpTransportInternals) {
    await init.call(this)
    try {
      this.socket.setRecvBufferSize(UDP_RECEIVE_BUFFER_BYTES)
    } catch {
      // A socket that cannot take it keeps the default: slower recovery, nothing broken.
    }
  }
}

/** The receive buffer the kernel granted a werift transport's socket (for tests). */
export function receiveBufferOf(transport: unknown): number {
  return (transport as UdpTransportInternals).socket.getRecvBufferSize()
}

#!/usr/bin/env python3
"""An independent RTSP server for interop tests: GStreamer's gst-rtsp-server serving a live test
pattern as H.264 or H.265, over TCP-interleaved and UDP, optionally behind Digest auth.

    gst-rtsp-server.py [--host 127.0.0.1] [--port 0] [--codec h264|h265] [--path /name ...]
                       [--user NAME --password SECRET] [--session-timeout SECONDS]
                       [--exit-on-stdin-eof]

Port 0 (the default) lets the system choose; the port actually bound is printed on stdout as
`READY <port>` once the server listens. Every --path (repeatable, default /stream) mounts the
same source; each client gets its own pipeline (not shared), so every session starts on a
keyframe. Exits cleanly on SIGTERM or SIGINT, and with --exit-on-stdin-eof when stdin reaches end
of file (so a server a test spawned with a pipe for stdin dies with the test process).

Debian packages: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-{base,good,bad,ugly}.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

# 4:2:0 as cameras send it: left open, x265enc would negotiate 4:4:4 12-bit (a RExt profile).
SOURCE = "videotestsrc is-live=true ! video/x-raw,format=I420,width=640,height=360,framerate=15/1"
ENCODERS = {
    "h264": (
        "x264enc tune=zerolatency key-int-max=15 bframes=0 ! "
        "rtph264pay name=pay0 pt=96 config-interval=1"
    ),
    "h265": (
        'x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15 option-string="bframes=0" ! '
        "h265parse ! rtph265pay name=pay0 pt=96 config-interval=1"
    ),
}
ROLE = "user"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed in READY)")
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="h264")
    parser.add_argument("--path", action="append", help="mount point, e.g. /cam (repeatable)")
    parser.add_argument("--user", help="enables Digest authentication")
    parser.add_argument("--password", default="")
    parser.add_argument("--session-timeout", type=int, help="seconds (gst-rtsp-server's default: 60)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes")
    args = parser.parse_args()
    paths = args.path or ["/stream"]
    for p in paths:
        if not p.startswith("/"):
            parser.error(f"--path must start with '/': {p}")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))

    if args.user:
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.set_realm("TS-VMS interop")
        # The token names the user's role; each factory grants that role access and construction.
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
        auth.add_digest(args.user, args.password, token)
        # No default token: anonymous requests are challenged (401).
        server.set_auth(auth)

    if args.session_timeout:
        # Clients must keep their sessions alive within this; a short one tests their keepalives.
        def on_client(_server, client):
            client.connect("new-session", lambda _client, session: session.set_timeout(args.session_timeout))

        server.connect("client-connected", on_client)

    # gst-rtsp-server only expires sessions (of clients that stopped their keepalives or vanished)
    # when the application asks it to.
    def cleanup():
        server.get_session_pool().cleanup()
        return GLib.SOURCE_CONTINUE

    GLib.timeout_add(500, cleanup)

    mounts = server.get_mount_points()
    launch = f"( {SOURCE} ! {ENCODERS[args.codec]} )"
    for p in paths:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(False)
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
        if args.user:
            factory.add_role_from_structure(
                Gst.Structure.new_from_string(
                    f"{ROLE}, {GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS}=(boolean)true, "
                    f"{GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT}=(boolean)true"
                )
            )
        mounts.add_factory(p, factory)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)

    def on_stdin(_fd, condition):
        # The parent went away (or closed our stdin): stop rather than linger as an orphan.
        data = sys.stdin.buffer.read1(4096) if condition & GLib.IOCondition.IN else b""
        if not data:
            loop.quit()
            return GLib.SOURCE_REMOVE
        return GLib.SOURCE_CONTINUE

    if args.exit_on_stdin_eof:
        GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP, on_stdin)

    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

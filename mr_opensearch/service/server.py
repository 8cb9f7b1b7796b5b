"""Running the service: the socket bound first (a port in use is a clear error, not a traceback), then
uvicorn on it until SIGINT or SIGTERM, which stop accepting connections and let the requests in flight
finish (up to ``graceful_seconds``) before the command returns and the process exits 0.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
from typing import Any

from mr_opensearch.core.errors import MrosError

GRACEFUL_SECONDS = 30.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise MrosError(f"port {port} on {host} is in use", "stop what listens there, or pass another --port") from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EINVAL):
            raise MrosError(f"cannot listen on {host}:{port}: {exc.strerror}", "pass an address of this machine "
                            "with --host (127.0.0.1 for this machine only, 0.0.0.0 for every interface)") from None
        raise MrosError(f"cannot listen on {host}:{port}: {exc.strerror}", "check --host and --port") from None
    # accepted connections inherit it (Linux): a response's head and body go out at once, not 40 ms apart
    # while Nagle waits for the client's delayed ACK
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(app: Any, sock: socket.socket, *, graceful_seconds: float = GRACEFUL_SECONDS, access_log: bool = False,
          log_level: str = "warning") -> None:
    """Serve ``app`` on ``sock`` until a stop signal; returns once the requests in flight are done."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="off",
                            timeout_graceful_shutdown=graceful_seconds, server_header=False)
    server = uvicorn.Server(config)
    logging.getLogger("mros.serve").info("serving on %s", sock.getsockname())
    # uvicorn handles SIGINT/SIGTERM itself (graceful stop), then raises the signal again for the handler that
    # was there before it started: with this one, a requested stop ends the command normally (exit 0)
    previous = {sig: signal.signal(sig, _stop_requested) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_requested(signum: int, frame: Any) -> None:
    """The stop signal once uvicorn has finished its graceful shutdown: nothing left to do."""

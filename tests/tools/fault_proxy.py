"""A fault-injecting HTTP proxy for tests and benchmarks: it forwards to a real OpenSearch node and spoils
a share of the requests.

Every request is read whole, then one fault is drawn from a seeded RNG (``random.Random(seed)``) with the
shares of :class:`FaultRates`, or taken from the queue of :meth:`FaultProxy.force`:

* ``429`` / ``503``: answered by the proxy, never forwarded, with ``Retry-After: retry_after_s`` (unless
  ``None``) and an OpenSearch-shaped JSON error body;
* ``reset``: the connection is closed with an RST (``SO_LINGER`` 0) before the request is forwarded;
* ``reset_after_forward``: the request reaches the node and is carried out, then the connection is reset
  instead of answering (a lost answer: the client cannot know whether the request took effect);
* ``slow``: forwarded, and the answer held back ``slow_s`` seconds;
* ``bulk_item_429`` (``_bulk`` only; other requests go through): a share ``item_share`` of the bulk's
  operations is taken out before forwarding and answered, in place, with per-item 429
  ``es_rejected_execution_exception`` (as a node with a full write queue answers); the rest is
  forwarded and its real per-item answers are sent back.

Everything else is forwarded unchanged (HTTP/1.1, keep-alive, one upstream connection per client
connection) and the node's answer is sent back as it came. When the node does not answer (stopped,
restarting), the client's connection is reset, as a dead node's would be. ``on_request(method, path)`` is
called for every request before the fault is drawn (tests use it to change the rates or restart the node
at a chosen point). Counts are in :attr:`FaultProxy.stats`; every request with its fault in
:attr:`FaultProxy.log`.

    with FaultProxy(9262, FaultRates.each(0.1), seed=7) as proxy:
        client = connect(ClusterConfig(), proxy.url)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("429", "503", "reset", "reset_after_forward", "slow", "bulk_item_429")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length"}


@dataclass(frozen=True)
class FaultRates:
    """Share of requests (0..1) that get each fault; the shares must add up to at most 1."""

    status_429: float = 0.0
    status_503: float = 0.0
    reset: float = 0.0
    reset_after_forward: float = 0.0
    slow: float = 0.0
    bulk_item_429: float = 0.0
    item_share: float = 0.5
    retry_after_s: float | None = 1.0
    slow_s: float = 1.0
    max_in_a_row: int | None = None
    """At most this many drawn faults in a row, then one request goes through clean (``None``: no cap).
    Tests use it so that a lucky streak cannot exhaust the retry budget; benchmarks leave it off."""

    @classmethod
    def each(cls, rate: float, **kwargs: Any) -> FaultRates:
        """Every kind of fault at ``rate`` (so ``5 * rate`` of the requests are spoiled)."""
        return cls(status_429=rate, status_503=rate, reset=rate, reset_after_forward=rate, slow=rate, **kwargs)

    def shares(self) -> list[tuple[str, float]]:
        out = list(zip(FAULTS, (self.status_429, self.status_503, self.reset, self.reset_after_forward, self.slow,
                                self.bulk_item_429), strict=True))
        total = sum(share for _, share in out)
        if any(share < 0 for _, share in out) or total > 1.0 + 1e-9:
            raise ValueError(f"fault shares must be >= 0 and add up to at most 1, got {out}")
        return out


@dataclass(frozen=True)
class Forced:
    fault: str
    match: re.Pattern[str]
    retry_after_s: float | None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that resets its own connection (after an injected fault) is not an error of the proxy."""
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FaultProxy:
    """A threaded HTTP/1.1 proxy on 127.0.0.1 in front of ``upstream_port`` (see the module docstring)."""

    def __init__(self, upstream_port: int, rates: FaultRates | None = None, *, seed: int = 0,
                 upstream_host: str = "127.0.0.1", port: int = 0, upstream_timeout: float = 120.0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.upstream_timeout = upstream_timeout
        self.rates = rates or FaultRates()
        self.rates.shares()
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stats: Counter[str] = Counter()
        self.log: list[tuple[str, str, str]] = []
        self.forced: list[Forced] = []
        self.in_a_row = 0
        self.on_request: Callable[[str, str], None] | None = None
        self.server = _QuietServer(("127.0.0.1", port), self._handler_class())
        self.thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name=f"fault-proxy-{self.port}", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_rates(self, rates: FaultRates) -> None:
        rates.shares()
        with self.lock:
            self.rates = rates

    def force(self, fault: str, *, match: str = ".*", times: int = 1, retry_after_s: float | None = None) -> None:
        """The next ``times`` requests whose ``"METHOD /path"`` matches ``match`` (``re.search``) get ``fault``."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}")
        with self.lock:
            self.forced.extend([Forced(fault, re.compile(match), retry_after_s)] * times)

    def faults_of(self, pattern: str) -> list[str]:
        """The faults given to the requests whose ``"METHOD /path"`` matches ``pattern``, in order."""
        regex = re.compile(pattern)
        with self.lock:
            return [fault for method, path, fault in self.log if regex.search(f"{method} {path}")]

    # ------------------------------------------------------------------ decisions

    def _decide(self, method: str, path: str) -> tuple[str, FaultRates]:
        with self.lock:
            rates = self.rates
            target = f"{method} {path}"
            for i, forced in enumerate(self.forced):
                if forced.match.search(target):
                    del self.forced[i]
                    if forced.retry_after_s is not None:
                        rates = replace(rates, retry_after_s=forced.retry_after_s)
                    return self._record(method, path, forced.fault), rates
            draw = self.rng.random()
            edge = 0.0
            for fault, share in rates.shares():
                edge += share
                if draw < edge and (rates.max_in_a_row is None or self.in_a_row < rates.max_in_a_row):
                    self.in_a_row += 1
                    return self._record(method, path, fault), rates
            self.in_a_row = 0
            return self._record(method, path, "none"), rates

    def _record(self, method: str, path: str, fault: str) -> str:
        self.stats["requests"] += 1
        self.stats[fault] += 1
        self.log.append((method, path, fault))
        return fault

    def _count(self, key: str) -> None:
        with self.lock:
            self.stats[key] += 1

    # ------------------------------------------------------------------ the handler

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 300
            upstream: http.client.HTTPConnection | None = None

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reset(self) -> None:
                """Close the client's connection with an RST, no answer."""
                self.close_connection = True
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                except OSError:
                    pass

            def _error(self, status: int, rates: FaultRates) -> None:
                kind = "rejected_execution_exception" if status == 429 else "fault_proxy_unavailable"
                reason = f"injected by the fault proxy: {status}"
                body = json.dumps({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind,
                                             "reason": reason}, "status": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                if rates.retry_after_s is not None:
                    self.send_header("Retry-After", f"{rates.retry_after_s:g}")
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, method: str, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes] | None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Host"] = f"{proxy.upstream[0]}:{proxy.upstream[1]}"
                for _ in range(2):  # a kept-alive upstream connection the node has closed is reopened once
                    reused = self.upstream is not None
                    if self.upstream is None:
                        self.upstream = http.client.HTTPConnection(*proxy.upstream, timeout=proxy.upstream_timeout)
                    try:
                        self.upstream.request(method, self.path, body=body if body or method in ("POST", "PUT")
                                              else None, headers=headers)
                        response = self.upstream.getresponse()
                        data = response.read()
                        return response.status, response.reason, response.getheaders(), data
                    except (OSError, http.client.HTTPException):
                        self.upstream.close()
                        self.upstream = None
                        if not reused:
                            return None
                return None

            def _handle(self) -> None:
                method = self.command
                body = self._read_body()
                if proxy.on_request is not None:
                    proxy.on_request(method, self.path)
                fault, rates = proxy._decide(method, self.path)
                if fault == "bulk_item_429" and "/_bulk" in self.path:
                    self._bulk_items_rejected(body, rates)
                    return
                if fault in ("429", "503"):
                    self._error(int(fault), rates)
                    return
                if fault == "reset":
                    self._reset()
                    return
                answer = self._forward(method, body)
                if answer is None:
                    proxy._count("upstream_down")
                    self._reset()
                    return
                if fault == "reset_after_forward":
                    self._reset()
                    return
                if fault == "slow":
                    time.sleep(rates.slow_s)
                status, reason, headers, data = answer
                self.send_response(status, reason)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                if method == "HEAD":
                    length = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
                    self.send_header("Content-Length", length)
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _bulk_items_rejected(self, body: bytes, rates: FaultRates) -> None:
                lines = [line for line in body.split(b"\n") if line.strip()]
                ops: list[list[bytes]] = []
                i = 0
                while i < len(lines):
                    (kind,) = json.loads(lines[i])
                    width = 1 if kind == "delete" else 2
                    ops.append(lines[i : i + width])
                    i += width
                with proxy.lock:
                    rejected = {n for n in range(len(ops)) if proxy.rng.random() < rates.item_share}
                    proxy.stats["bulk_items_rejected"] += len(rejected)
                kept = [op for n, op in enumerate(ops) if n not in rejected]
                answer: dict[str, Any] = {"took": 0, "errors": False, "items": []}
                if kept:
                    forwarded = self._forward("POST", b"\n".join(b"\n".join(op) for op in kept) + b"\n")
                    if forwarded is None:
                        proxy._count("upstream_down")
                        self._reset()
                        return
                    answer = json.loads(forwarded[3])
                real = iter(answer.get("items", []))
                items = []
                for n, op in enumerate(ops):
                    if n not in rejected:
                        items.append(next(real))
                        continue
                    (kind, action), = json.loads(op[0]).items()
                    items.append({kind: {"_index": action.get("_index"), "_id": action.get("_id"), "status": 429,
                                         "error": {"type": "es_rejected_execution_exception",
                                                   "reason": "injected by the fault proxy: write queue full"}}})
                answer["items"] = items
                answer["errors"] = bool(rejected) or bool(answer.get("errors"))
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

            def finish(self) -> None:
                with contextlib.suppress(OSError):
                    super().finish()
                if self.upstream is not None:
                    self.upstream.close()

        return Handler

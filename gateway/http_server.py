"""The gateway's HTTP server: uvicorn on httptools, with the limits that keep slow or oversized requests from
holding the process.

uvicorn bounds idle keep-alive connections and, with `limit_concurrency`, how many requests run at once, but not
how long a caller may take to send a request nor how large its headers may grow under httptools: the protocol
below closes a connection whose request is not read within `http_request_read_timeout_s` (a slowloris drip of
header bytes) and answers 431 to headers over `http_max_header_bytes`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.coalesced_transport import CoalescedTransport
from gateway.settings import GatewaySettings
from shared.logging_setup import configure_logging, kv, stop_logging
from shared.process_counts import default_gateway_processes

log = logging.getLogger(__name__)

_HEADERS_TOO_LARGE = b"request headers are too large: send fewer or shorter headers"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools' protocol with a deadline on reading each request and a cap on its header bytes, writing each
    response's head with its body (gateway/coalesced_transport.py)."""

    read_timeout_s: float = 15.0
    max_header_bytes: int = 16 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._reading_headers = True
        self._header_bytes = 0
        self._header_tail = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescedTransport(transport, self.loop))  # type: ignore[arg-type]
        self._arm_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            # One read often holds the headers and the start of the body: only bytes up to the blank line that
            # ends the headers count, so a large body is never taken for large headers.
            seen = self._header_tail + data
            end = seen.find(b"\r\n\r\n")
            self._header_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._header_tail))
            if self._header_bytes > self.max_header_bytes:
                self._refuse_headers()
                return
            self._header_tail = seen[-3:]
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True
        self._header_bytes = 0
        self._header_tail = b""
        if self._read_deadline is None:
            self._arm_read_deadline()

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm_read_deadline()
        # The next request on this connection is counted from its first byte.
        self._reading_headers = True
        self._header_bytes = 0
        self._header_tail = b""
        super().on_message_complete()

    def _arm_read_deadline(self) -> None:
        self._disarm_read_deadline()
        self._read_deadline = self.loop.call_later(self.read_timeout_s, self._read_too_slow)

    def _disarm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_too_slow(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            log.info("request not read in time, connection closed %s", kv(client=_peer(self.client)))
            self.transport.close()

    def _refuse_headers(self) -> None:
        self._disarm_read_deadline()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: "
            + str(len(_HEADERS_TOO_LARGE)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + _HEADERS_TOO_LARGE
        )
        self.transport.close()


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "unknown"


def protocol_for(settings: GatewaySettings) -> type[BoundedHttpToolsProtocol]:
    return type(
        "GatewayHttpProtocol",
        (BoundedHttpToolsProtocol,),
        {"read_timeout_s": settings.http_request_read_timeout_s, "max_header_bytes": settings.http_max_header_bytes},
    )


def _allow_open_files(wanted: int) -> None:
    """Raise the soft open-file limit towards `wanted` (within the hard limit): each connection is a descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound with SO_REUSEPORT: every gateway process binds its own to the same port, and the kernel spreads
    new connections over those listening (uvicorn makes it listen, with the configured backlog)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(False)
    return sock


def run_server(app: FastAPI, settings: GatewaySettings, sock: socket.socket | None = None) -> None:
    """uvicorn on this process's event loop until SIGTERM or SIGINT; on `sock` when given, else on HOST:PORT."""
    _allow_open_files(settings.http_limit_concurrency + 256)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol_for(settings),
        limit_concurrency=settings.http_limit_concurrency,
        timeout_keep_alive=settings.http_keep_alive_timeout_s,
        backlog=settings.http_backlog,
        proxy_headers=True,
        # Passed explicitly: uvicorn's own default would trust X-Forwarded-For from any loopback peer.
        forwarded_allow_ips=settings.forwarded_allow_ips or [],
        # uvicorn's own lines go through the root logger's queue (shared/logging_setup.py), in LOG_FORMAT.
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    # uvicorn re-raises the signal it stopped on once it is done, which under the default SIGTERM action would end
    # the process before the last log lines are written: the shutdown is already handled, so the re-raise is not.
    previous = {sig: signal.signal(sig, _already_handled) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _already_handled(signum: int, frame: object) -> None:
    log.debug("signal %s after uvicorn's shutdown", signum)


def serve(create_app: Callable[[GatewaySettings], FastAPI], settings: GatewaySettings) -> None:
    """Serve the gateway: in this process, or in GATEWAY_PROCESSES processes sharing the port."""
    processes = settings.gateway_processes or default_gateway_processes()
    configure_logging(settings.log_level, settings.log_format, settings.service_name)
    if processes > 1:
        from gateway.server_processes import supervise

        supervise(create_app, settings, processes)
        return
    try:
        run_server(create_app(settings), settings)
    finally:
        log.info("gateway stopped %s", kv(pid=os.getpid()))
        stop_logging()

"""A service's Prometheus `/metrics` on its own port, off the request path (prometheus-client's threaded server)."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from shared.logging_setup import kv

log = logging.getLogger(__name__)


def serve_metrics(port: int, registry: CollectorRegistry = REGISTRY, **context: object) -> int | None:
    """Serve `registry` on `port` on every interface; None when disabled (port 0)."""
    if port <= 0:
        return None
    start_http_server(port, addr="0.0.0.0", registry=registry)
    log.info("metrics endpoint %s", kv(port=port, **context))
    return port

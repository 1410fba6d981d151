"""Container health probes without curl (the slim base has none): one check per kind of service.

python healthcheck.py http PATH          # GET http://127.0.0.1:$PORT/PATH answers 2xx
python healthcheck.py heartbeat          # this container's inference worker published a fresh heartbeat
python healthcheck.py celery             # this container's Celery worker (training) answers a broker ping
python healthcheck.py redis              # the configured Redis answers PING
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the MLflow image has no redis client; only the checks that need one import it
    import redis


def check_http(path: str) -> None:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/{path.lstrip('/')}"
    with urllib.request.urlopen(url, timeout=4) as response:
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{url} answered {response.status}")


def _redis() -> redis.Redis:
    import redis

    return redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://redis:6379/0"), socket_timeout=3)


def check_heartbeat() -> None:
    # The worker id is `hostname:pid` and its key expires a few beats after the process stops beating.
    from shared.redis_keys import inference_worker_heartbeat

    pattern = inference_worker_heartbeat(f"{socket.gethostname()}:*")
    if not any(True for _ in _redis().scan_iter(match=pattern, count=1000)):
        raise RuntimeError(f"no heartbeat key matching {pattern}")


def check_alerting() -> None:
    from shared.redis_keys import ALERTING_HEARTBEAT

    if not _redis().exists(ALERTING_HEARTBEAT):
        raise RuntimeError(f"{ALERTING_HEARTBEAT} is missing or expired")


def check_celery() -> None:
    from shared.celery_config import make_celery

    node = f"celery@{socket.gethostname()}"
    app = make_celery("healthcheck", os.environ.get("REDIS_URL", "redis://redis:6379/0"))
    if not app.control.ping(destination=[node], timeout=5):
        raise RuntimeError(f"{node} did not answer a ping")


def check_redis() -> None:
    _redis().ping()


def main(argv: list[str]) -> int:
    checks = {
        "http": check_http,
        "heartbeat": check_heartbeat,
        "alerting": check_alerting,
        "celery": check_celery,
        "redis": check_redis,
    }
    if not argv or argv[0] not in checks:
        sys.stderr.write(f"usage: healthcheck.py {{{'|'.join(checks)}}} [PATH]\n")
        return 2
    try:
        checks[argv[0]](*argv[1:])
    except Exception as exc:
        sys.stderr.write(f"unhealthy: {exc.__class__.__name__}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Prometheus metrics of the training worker: jobs started and ended by family, how long they ran, jobs running now.

Celery runs each job in a child of the worker's prefork pool (the pool enforces the job time limits), while
`/metrics` is served by the worker's main process (`serve`, called before the pool forks). prometheus_client's
multiprocess mode shares the values: every process writes its own files in the folder named by
`PROMETHEUS_MULTIPROC_DIR`, and the main process adds them up on each scrape. That variable must be set before
prometheus_client is first imported (`python -m training_worker worker` does it when `METRICS_PORT` > 0).
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Iterable
from types import TracebackType

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values
from prometheus_client.metrics_core import Metric

from shared.families import FAMILY_NAMES
from shared.jobs import JobStateConflict
from shared.metrics_server import serve_metrics
from shared.schemas.api import JobState

log = logging.getLogger(__name__)

# What `training_jobs_total{state}` counts: a job started, then ended succeeded, failed, cancelled (by an admin,
# while it ran) or stopped (its lease lost: another worker may finish it). Jobs refused before they start (bad
# params, too many attempts) count as failed without a start.
STATES = ("started", "succeeded", "failed", "cancelled", "stopped")
OTHER_FAMILY = "other"

JOBS = Counter("training_jobs_total", "Training jobs started, and ended by how they ended.", ["family", "state"])
JOB_DURATION_SECONDS = Histogram(
    "training_job_duration_seconds",
    "From a job's start on this worker to its end, by how it ended.",
    ["family", "state"],
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 21600),
)
# Summed over the worker's live processes: the main process forgets the values of a pool child that died.
JOBS_RUNNING = Gauge("training_jobs_running", "Jobs running now.", ["family"], multiprocess_mode="livesum")

for _family in FAMILY_NAMES:
    # Every series exists from the start at 0, so that a rate or an alert sees the first job of each kind.
    for _state in STATES:
        JOBS.labels(family=_family, state=_state)
        if _state != "started":
            JOB_DURATION_SECONDS.labels(family=_family, state=_state)
    JOBS_RUNNING.labels(family=_family)


def _family(name: str) -> str:
    return name if name in FAMILY_NAMES else OTHER_FAMILY


def job_refused(family: str) -> None:
    """A job that ended failed without starting."""
    JOBS.labels(family=_family(family), state="failed").inc()


def job_cancelled(family: str) -> None:
    """A running job cancelled by an admin whose pool child was terminated (it never got to count the end itself)."""
    JOBS.labels(family=_family(family), state="cancelled").inc()


class JobRun:
    """One job's run on this worker, as a `with` block: counted started on entry, and on exit counted by how it
    ended (`end(state)`, or the exception that stopped it), its duration observed, the running gauge back down."""

    def __init__(self, family: str) -> None:
        self.family = _family(family)
        self.state: str | None = None
        self._started = 0.0

    def end(self, state: str) -> None:
        self.state = state

    def __enter__(self) -> JobRun:
        JOBS.labels(family=self.family, state="started").inc()
        JOBS_RUNNING.labels(family=self.family).inc()
        self._started = time.monotonic()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        JOBS_RUNNING.labels(family=self.family).dec()
        state = self.state or _ended_by(exc)
        JOBS.labels(family=self.family, state=state).inc()
        JOB_DURATION_SECONDS.labels(family=self.family, state=state).observe(time.monotonic() - self._started)


def _ended_by(exc: BaseException | None) -> str:
    if isinstance(exc, JobStateConflict) and exc.job.state == JobState.cancelled:
        return "cancelled"
    return "stopped"


class _LiveProcessesCollector(multiprocess.MultiProcessCollector):
    """The multiprocess collector, after dropping the live gauges of processes that are gone (a pool child killed
    at the job's hard time limit never says so itself)."""

    def collect(self) -> Iterable[Metric]:
        for path in glob.glob(os.path.join(self._path, "gauge_live*_*.db")):
            pid = int(os.path.basename(path).rsplit("_", 1)[1].removesuffix(".db"))
            if not _alive(pid):
                multiprocess.mark_process_dead(pid, self._path)
        return super().collect()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve(port: int) -> int | None:
    """Serve the worker's /metrics on `port` from this (main) process; None when disabled (0)."""
    if port <= 0:
        return None
    if not getattr(values.ValueClass, "_multiprocess", False):
        raise RuntimeError("set PROMETHEUS_MULTIPROC_DIR before prometheus_client is imported")
    registry = CollectorRegistry()
    _LiveProcessesCollector(registry)
    return serve_metrics(port, registry, folder=os.environ["PROMETHEUS_MULTIPROC_DIR"])

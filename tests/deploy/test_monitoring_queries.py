"""A real Prometheus (Debian's) scrapes a real stack under the box's job names, and every PromQL expression the
Grafana dashboard and the alert rules hold finds its series: a panel or rule naming a metric nobody exports fails.

The stack: the tests' Redis and MLflow, the tiny champion, a gateway, an inference worker, a training worker, the
alerting service and a log writer with METRICS_PORT set (alerting mailing a real SMTP server), and Debian's
redis_exporter run with the flags of compose's `redis-exporter` service. Under the traffic: predictions (which the
log writer writes to the session's prediction log, and which fill the worker's drift window), a tiny training job,
and three flagged mispredictions that make one alert report.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from local_stack.processes import ManagedProcess, free_port, http_ok, start_service, wait_until
from tests.conftest import (
    ADMIN_KEY,
    ANALYST_KEY,
    SmtpSink,
    Stack,
    alerting_env,
    start_inference_worker,
    wait_ready,
)
from tests.deploy.monitoring_files import (
    MONITORING,
    PROMETHEUS_CONFIG,
    RULES_DIR,
    Query,
    alert_rules,
    compose_service,
    dashboard_targets,
    debian_binary,
    selectors,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TWEETS = [
    "@united thank you, the crew was lovely",
    "@united lost my bag again, worst airline",
    "@united on time and friendly staff",
    "@united two hours on the tarmac and no answer",
]
TINY_CLASSICAL = {
    "dataset": "bundled-airline",
    "max_rows": 200,
    "grid": "small",
    "cv_folds": 2,
    "vectorizers": ["bow"],
    "models": ["logreg"],
}


def _exporter_args(redis_url: str, port: int) -> list[str]:
    """compose's redis-exporter command, pointed at the tests' Redis and at the repository's Lua script."""
    args = []
    for flag in compose_service("redis-exporter")["command"]:
        name, _, value = flag.partition("=")
        if name == "--redis.addr":
            value = redis_url
        elif name == "--script":
            value = str(MONITORING / "redis-exporter" / Path(value).name)
        args.append(f"{name}={value}")
    return [debian_binary("prometheus-redis-exporter"), *args, f"--web.listen-address=127.0.0.1:{port}"]


def _prometheus_config(targets: dict[str, str], path: Path) -> None:
    """The box's prometheus.yml with each job's discovery replaced by the loopback address of its test process."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert sorted(jobs) == sorted(targets), f"prometheus.yml jobs {jobs}: the test scrapes {sorted(targets)}"
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"}
    config["rule_files"] = [str(RULES_DIR / "*.yml")]
    # A healthy stack raises no alert to send (tests/deploy/test_alertmanager.py checks the Alertmanager's side).
    del config["alerting"]
    for job in config["scrape_configs"]:
        for discovery in [key for key in job if key.endswith("_configs")]:
            del job[discovery]
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path.write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def prometheus(
    stack: Stack, gateway: str, tiny_champion: dict, smtp_sink: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    work = tmp_path_factory.mktemp("prometheus")
    metrics_port, exporter_port, prometheus_port = free_port(), free_port(), free_port()
    training_port, alerting_port, log_writer_port = free_port(), free_port(), free_port()
    processes: list[ManagedProcess] = []
    try:
        worker = start_inference_worker(stack, "metrics-worker", METRICS_PORT=str(metrics_port))
        processes.append(worker)
        training = start_service(
            "metrics-training-worker",
            ["training_worker", "worker"],
            stack.env(METRICS_PORT=str(training_port)),
            stack.log_dir,
        )
        processes.append(training)
        # Its own consumer group from the stream's end: only this module's flags make its report.
        alerting_settings = alerting_env(
            stack.redis_url,
            smtp_sink.port,
            METRICS_PORT=str(alerting_port),
            CONSUMER_GROUP="alerting-monitoring",
            GROUP_START_ID="$",
        )
        alerting = start_service("metrics-alerting", ["alerting"], alerting_settings, stack.log_dir)
        processes.append(alerting)
        log_writer = start_service(
            "metrics-log-writer", ["log_writer"], stack.env(METRICS_PORT=str(log_writer_port)), stack.log_dir
        )
        processes.append(log_writer)
        exporter = ManagedProcess(
            "redis-exporter", _exporter_args(stack.redis_url, exporter_port), work / "redis-exporter.log"
        ).start()
        processes.append(exporter)
        targets = {
            "gateway": gateway.removeprefix("http://"),
            "inference-worker": f"127.0.0.1:{metrics_port}",
            "training-worker": f"127.0.0.1:{training_port}",
            "alerting": f"127.0.0.1:{alerting_port}",
            "log-writer": f"127.0.0.1:{log_writer_port}",
            "redis": f"127.0.0.1:{exporter_port}",
            "prometheus": f"127.0.0.1:{prometheus_port}",
        }
        _prometheus_config(targets, work / "prometheus.yml")
        server = ManagedProcess(
            "prometheus",
            [
                debian_binary("prometheus"),
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            work / "prometheus.log",
        ).start()
        processes.append(server)
        url = f"http://127.0.0.1:{prometheus_port}"
        wait_until(lambda: http_ok(f"http://127.0.0.1:{metrics_port}/metrics"), 180, "worker metrics", worker)
        wait_until(lambda: http_ok(f"http://127.0.0.1:{training_port}/metrics"), 180, "training metrics", training)
        wait_until(lambda: http_ok(f"http://127.0.0.1:{alerting_port}/metrics"), 60, "alerting metrics", alerting)
        wait_until(lambda: http_ok(f"http://127.0.0.1:{log_writer_port}/metrics"), 60, "log writer metrics", log_writer)
        wait_until(lambda: http_ok(url + "/-/ready"), 60, "prometheus", server)
        wait_until(lambda: _all_targets_up(url), 60, "every scrape target up", server)
        yield url
    finally:
        for process in reversed(processes):
            process.stop()


def _all_targets_up(url: str) -> bool:
    active = httpx.get(url + "/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    return bool(active) and all(target["health"] == "up" for target in active)


def _worker_answered(url: str) -> bool:
    return _values(url, 'sum(inference_predictions_total{job="inference-worker"})') not in ([], [0.0])


def _values(url: str, expr: str) -> list[float]:
    response = httpx.get(url + "/api/v1/query", params={"query": expr}, timeout=10)
    assert response.status_code == 200, f"{expr}: {response.text}"
    data = response.json()["data"]
    if data["resultType"] == "scalar":
        return [float(data["result"][1])]
    return [float(series["value"][1]) for series in data["result"]]


@pytest.fixture(scope="module")
def scraped_traffic(prometheus: str, gateway: str, smtp_sink: SmtpSink) -> str:
    """A little traffic of every kind the dashboard shows, scraped several times afterwards."""
    wait_ready(gateway, timeout_s=180)
    # Queued first, so that it trains while the predictions below run: it ends between two scrapes.
    admin = {"X-API-Key": ADMIN_KEY}
    job = httpx.post(
        gateway + "/admin/training-jobs", json={"family": "classical", "params": TINY_CLASSICAL}, headers=admin
    )
    assert job.status_code == 202, job.text
    with httpx.Client(base_url=gateway, headers={"X-API-Key": ANALYST_KEY}, timeout=30) as client:
        # Rounds spread over several 1 s scrapes, so that each histogram grows between two of them (a rate needs
        # two samples of one series); more rounds while another worker of the session takes all the calls.
        rounds, deadline = 0, time.monotonic() + 60
        while rounds < 5 or (not _worker_answered(prometheus) and time.monotonic() < deadline):
            for tweet in TWEETS:
                assert client.post("/predict", json={"text": tweet}).status_code == 200
            assert client.post("/predict/batch", json={"texts": TWEETS}).status_code == 200
            rounds += 1
            time.sleep(1.2)
        assert client.post("/predict", json={"text": "   "}).status_code == 422
        # Unknown prediction id: counts on the /feedback route and writes nothing an alerting process would read.
        unknown = client.post("/feedback", json={"prediction_id": "0" * 32, "correct_label": "negative"})
        assert unknown.status_code == 404, unknown.text
        # Three answers flagged wrong: a burst that makes one alert report, emailed to the SMTP sink.
        for tweet in TWEETS[:3]:
            answer = client.post("/predict", json={"text": tweet}).json()
            wrong = "negative" if answer["label"] == "positive" else "positive"
            flagged = client.post("/feedback", json={"prediction_id": answer["prediction_id"], "correct_label": wrong})
            assert flagged.status_code == 201, flagged.text
    smtp_sink.wait_for(1, timeout_s=60)
    wait_until(lambda: _job_state(gateway, job.json()["job_id"]) in ("succeeded", "failed"), 300, "training job")
    assert _job_state(gateway, job.json()["job_id"]) == "succeeded"
    # The job can outlast a panel's rate window on a busy machine: a last few rounds put fresh samples in every one.
    with httpx.Client(base_url=gateway, headers={"X-API-Key": ANALYST_KEY}, timeout=30) as client:
        for _ in range(3):
            assert client.post("/predict", json={"text": TWEETS[0]}).status_code == 200
            assert client.post("/predict/batch", json={"texts": TWEETS}).status_code == 200
            time.sleep(1.2)
    time.sleep(3)  # a few 1 s scrapes after the last request
    return prometheus


def _job_state(gateway: str, job_id: str) -> str:
    response = httpx.get(f"{gateway}/admin/training-jobs/{job_id}", headers={"X-API-Key": ADMIN_KEY}, timeout=10)
    return response.json()["state"]


def _query_params() -> list[Query]:
    return [*dashboard_targets(), *alert_rules()]


@pytest.mark.parametrize("query", list(dashboard_targets()), ids=lambda query: query.where)
def test_every_dashboard_panel_shows_data(scraped_traffic: str, query: Query) -> None:
    values = _values(scraped_traffic, query.expr)
    assert values, f"{query.where}: `{query.expr}` returns no series"
    assert any(value == value for value in values), f"{query.where}: `{query.expr}` returns only NaN"


@pytest.mark.parametrize("query", _query_params(), ids=lambda query: query.where)
def test_every_series_a_panel_or_rule_selects_is_exported(scraped_traffic: str, query: Query) -> None:
    missing = [selector for selector in selectors(query.expr) if not _values(scraped_traffic, selector)]
    assert not missing, f"{query.where}: nothing exports {missing}"


def test_the_rules_load_and_evaluate(scraped_traffic: str) -> None:
    groups = httpx.get(scraped_traffic + "/api/v1/rules", timeout=5).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len(list(alert_rules()))
    assert [rule["name"] for rule in rules if rule["health"] != "ok"] == [], rules
    # A healthy stack raises none of them.
    assert [rule["name"] for rule in rules if rule["state"] == "firing"] == []

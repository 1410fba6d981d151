"""Render the reliability tables (faults, abuse, generated-case count, soak figures) as Markdown from one suite run.

python -m tests.reliability.report test-output      # writes test-output/reliability.md and prints it
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import psutil


def fault_rows(output_dir: Path) -> list[dict]:
    path = output_dir / "reliability-faults.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def abuse_rows(output_dir: Path) -> list[dict]:
    path = output_dir / "reliability-abuse.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def machine() -> str:
    cores = psutil.cpu_count(logical=True)
    memory_gb = psutil.virtual_memory().total / 1024**3
    python = platform.python_version()
    return f"{platform.machine()} Linux, {cores} CPU cores, {memory_gb:.0f} GB RAM, no GPU, Python {python}"


def render(output_dir: Path, pytest_status: int | None = None) -> str:
    rows = fault_rows(output_dir)
    lines = [
        f"# Reliability run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine()}.",
        "",
        "| fault | sent | answered | explicit failure | lost | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        note = str(row.get("note", "")).replace("|", "/")
        counts = " | ".join(str(row[key]) for key in ("sent", "answered", "explicit_failure", "lost"))
        lines.append(f"| {row['fault']} | {counts} | {note} |")
    total_lost = sum(int(row["lost"]) for row in rows)
    lines += [
        "",
        f"Lost in total: **{total_lost}**"
        + (f"; pytest exit status {pytest_status}" if pytest_status is not None else ""),
    ]
    fuzz = next((row for row in rows if row["fault"].startswith("schemathesis")), None)
    if fuzz:
        lines.append(f"schemathesis generated cases: **{fuzz['sent']}** (5xx: {fuzz['lost']}).")
    abuse = abuse_rows(output_dir)
    if abuse:
        lines += ["", "## Abuse", "", "| scenario | attempts | refused | effect |", "|---|---:|---:|---|"]
        for row in abuse:
            cells = [str(row[key]).replace("|", "/") for key in ("scenario", "attempts", "refused", "effect")]
            lines.append("| " + " | ".join(cells) + " |")
    soak_path = output_dir / "soak.json"
    if soak_path.exists():
        soak = json.loads(soak_path.read_text())
        lines += [
            "",
            f"## Soak: {soak['duration_s']:.0f} s measured after warm-up, {soak['requests']} requests, "
            f"{soak['errors']} errors ({soak['errors_during_warmup']} during warm-up), training job "
            f"{soak['training_job']}, targets met: {'yes' if soak['targets_met'] else 'no'}",
            "",
            "| process | memory after warm-up (MB) | at end (MB) | growth |",
            "|---|---:|---:|---:|",
        ]
        for name, warm in soak["memory_mb_warm"].items():
            lines.append(f"| {name} | {warm} | {soak['memory_mb_end'][name]} | {soak['memory_growth_pct'][name]} % |")
        lines += [
            "",
            "Redis grows with the prediction records it keeps for feedback (PREDICTION_TTL_HOURS): data, not a leak,",
            "so it is not held to the 10 % target; its memory budget (maxmemory) bounds it.",
            "",
            f"p50 latency (ms) over the run: {soak.get('p50_ms', {})}; p99 (ms) per {soak['p99_ms_bucket_s']} s:",
            "",
        ]
        for route, buckets in soak["p99_ms"].items():
            lines.append(f"- `{route}`: " + ", ".join(str(value) for value in buckets.values()))
        for sample in soak.get("error_samples", []):
            lines.append(f"- error: {sample}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    output_dir = Path(args[0] if args else "test-output")
    status = int(args[1]) if len(args) > 1 else None
    text = render(output_dir, status)
    (output_dir / "reliability.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

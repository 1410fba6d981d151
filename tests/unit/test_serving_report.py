"""The serving benchmark's verdicts: a comparison over cells that had failed requests is no verdict, since a
503 answered at once counts as a fast request."""

from __future__ import annotations

from benchmarks.common.load import LoadRun
from benchmarks.common.report import BenchmarkResult, Cell, CellRun, Names, comparisons, comparisons_table
from benchmarks.common.systems import FloorTiming

LEAN, DEFAULT = "lean", "default stack"


def result(lean_errors: int) -> BenchmarkResult:
    floor = FloorTiming(batch=1, calls=200, p50_ms=0.1, p99_ms=0.2)
    cells = []
    for round_ in range(3):
        for system, throughput, errors in ((LEAN, 1000.0, lean_errors), (DEFAULT, 900.0, 0)):
            load = LoadRun(64, 4.0, int(throughput * 4), errors, throughput, 10.0, 20.0)
            cells.append(CellRun(Cell(system, 64), round_, load, {"gateway": 0.5}))
    names = Names(lean=LEAN, default=DEFAULT, grid=[LEAN], peers=[])
    return BenchmarkResult("m", 2, 4.0, 3, "wrk", "onnxruntime", floor, floor, names, cells)


def verdicts(benchmark: BenchmarkResult) -> dict[str, str]:
    return {row.label: row.verdict for row in comparisons(benchmark)}


def test_a_comparison_is_judged_when_no_request_failed() -> None:
    found = verdicts(result(lean_errors=0))
    assert found["default stack ÷ lean, req/s at 64"] == "met"
    assert found["lean, p99 at 64"] == "met"


def test_failed_requests_in_either_cell_make_the_comparison_invalid() -> None:
    benchmark = result(lean_errors=7)
    found = verdicts(benchmark)
    assert found["default stack ÷ lean, req/s at 64"] == "INVALID (21 errors)"
    assert found["default stack ÷ lean, p99 at 64"] == "INVALID (21 errors)"
    assert found["lean, p99 at 64"] == "INVALID (21 errors)"
    assert found["default stack, p99 at 64"] == "met"
    assert "| INVALID (21 errors) |" in comparisons_table(comparisons(benchmark))

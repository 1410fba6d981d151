"""Default process counts from the machine's cores, a container's CPU quota included."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.process_counts import (
    available_cores,
    cgroup_cpu_quota,
    default_gateway_processes,
    default_inference_workers,
)


@pytest.mark.parametrize(
    ("cores", "gateways", "workers"), [(1, 1, 1), (2, 1, 1), (3, 1, 2), (4, 2, 2), (8, 4, 4), (16, 8, 8)]
)
def test_defaults_by_core_count(cores: int, gateways: int, workers: int) -> None:
    assert default_gateway_processes(cores) == gateways
    assert default_inference_workers(cores) == workers


def test_workers_take_the_cores_an_explicit_gateway_count_leaves() -> None:
    assert default_inference_workers(8, gateway_processes=2) == 6
    assert default_inference_workers(2, gateway_processes=2) == 1


@pytest.mark.parametrize(
    ("content", "quota"),
    [("max 100000\n", None), ("150000 100000\n", 2), ("100000 100000", 1), ("50000 100000", 1), ("garbage", None)],
)
def test_a_cgroup_cpu_quota_is_read_in_whole_cores(tmp_path: Path, content: str, quota: int | None) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(content, encoding="ascii")
    assert cgroup_cpu_quota(path) == quota


def test_a_container_quota_caps_the_cores_counted(tmp_path: Path) -> None:
    path = tmp_path / "cpu.max"
    path.write_text("100000 100000\n", encoding="ascii")
    assert available_cores(path) == 1
    assert available_cores(tmp_path / "absent") >= 1

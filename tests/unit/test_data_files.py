"""Data files a job may name: only regular files inside the data directory, of bounded size, and no error message
ever carries what the file holds (the path and the problem only)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from shared.training_params import ValidationError, validate_params
from training_worker.data_files import DataFileError, resolve_data_file
from training_worker.datasets import DatasetError, load_dataset
from training_worker.embeddings import MAX_GLOVE_LINE_BYTES, GloveFileError, load_glove

SECRET = "redis://:s3cr3t-password@redis:6379/0"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


# --- the path alone, as the gateway checks it before queueing --------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("classical", {"dataset": "/proc/self/environ"}),
        ("lstm", {"glove_path": "/dev/zero"}),
        ("classical", {"dataset": "../../etc/passwd"}),
        ("bert", {"dataset": "/data/../proc/self/environ"}),
        ("lstm", {"glove_path": "vectors/../../../dev/zero"}),
        ("classical", {"dataset": "tweets\x00.csv"}),
    ],
)
def test_paths_outside_the_data_directory_are_refused_by_name(family: str, params: dict) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_params(family, params, data_dir="/data")
    (error,) = caught.value.errors()
    assert error["loc"] == (next(iter(params)),)
    assert "data directory" in error["msg"] or "NUL" in error["msg"]


@pytest.mark.parametrize(
    "params",
    [
        {"dataset": "bundled"},
        {"dataset": "bundled-airline"},
        {"dataset": "tweets.csv"},
        {"dataset": "2026/tweets.csv"},
        {"dataset": "/data/tweets.csv"},
        {"dataset": "/data/./2026//tweets.csv", "glove_path": "glove.840B.300d.txt"},
    ],
)
def test_names_and_paths_inside_the_data_directory_are_accepted(params: dict) -> None:
    validate_params("lstm", params, data_dir="/data")


# --- the file itself, as the training worker checks it before reading ------------------------------------------------


def test_a_file_inside_is_resolved_relative_or_absolute(data_dir: Path) -> None:
    (data_dir / "tweets.csv").write_text("text,label\n")
    assert resolve_data_file("tweets.csv", data_dir, 1000) == (data_dir / "tweets.csv").resolve()
    assert resolve_data_file(str(data_dir / "tweets.csv"), data_dir, 1000) == (data_dir / "tweets.csv").resolve()


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: "/proc/self/environ", "outside the data directory"),
        (lambda d: "../outside.csv", "outside the data directory"),
        (lambda d: os.symlink("/proc/self/environ", d / "env.csv") or "env.csv", "outside the data directory"),
        (lambda d: os.symlink("/dev/zero", d / "zero.txt") or "zero.txt", "outside the data directory"),
        (lambda d: os.mkfifo(d / "pipe.csv") or "pipe.csv", "not a regular file"),
        (lambda d: (d / "folder.csv").mkdir() or "folder.csv", "not a regular file"),
        (lambda d: (d / "big.csv").write_bytes(b"x" * 1001) and "big.csv", "1001 bytes, more than the 1000 allowed"),
        (lambda d: "missing.csv", "no such file"),
    ],
)
def test_files_a_job_may_not_read_are_refused(data_dir: Path, make, problem: str) -> None:
    (data_dir.parent / "outside.csv").write_text(SECRET)
    name = make(data_dir)
    with pytest.raises(DataFileError) as caught:
        resolve_data_file(name, data_dir, 1000, what="dataset")
    assert problem in str(caught.value) and repr(name) in str(caught.value)


def test_the_loaders_refuse_the_process_environment_and_dev_zero(data_dir: Path) -> None:
    with pytest.raises(DatasetError, match="outside the data directory"):
        load_dataset("/proc/self/environ", data_dir=data_dir)
    with pytest.raises(GloveFileError, match="outside the data directory"):
        load_glove("/dev/zero", data_dir=data_dir)
    os.symlink("/dev/zero", data_dir / "zero.txt")
    with pytest.raises(GloveFileError, match="outside the data directory"):
        load_glove("zero.txt", data_dir=data_dir)


# --- what the errors say: where and what is wrong, never the content ------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (f"REDIS_URL={SECRET},ADMIN_API_KEY=k\n", "unrecognised columns"),
        (f"text,label\nhello,{SECRET}\n", "line 2"),
        (f"text,label\nhello,positive\n{'x' * 200_000},negative\n", "not a readable CSV"),
    ],
)
def test_dataset_errors_never_quote_the_file(data_dir: Path, content: str, problem: str) -> None:
    (data_dir / "bad.csv").write_text(content)
    with pytest.raises(DatasetError) as caught:
        load_dataset("bad.csv", data_dir=data_dir)
    message = str(caught.value)
    assert problem in message and "bad.csv" in message
    assert "s3cr3t" not in message and "xxxx" not in message


def test_a_glove_file_is_read_from_the_data_directory(data_dir: Path) -> None:
    (data_dir / "vectors.txt").write_text("flight 0.5 -1.0 2\ncrew 1 2 3\n")
    vectors = load_glove("vectors.txt", data_dir=data_dir)
    assert sorted(vectors) == ["crew", "flight"]
    np.testing.assert_allclose(vectors["flight"], [0.5, -1.0, 2.0])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (f"flight 0.5 1.0\n{SECRET} is 1.0\n", "line 2: the values after the word are not all numbers"),
        ("flight 0.5 1.0\ncrew 1 2 3\n", "line 2 has 3 values where the first vector has 2"),
        ("flight 0.5 1.0\n" + "s3cr3t" * (MAX_GLOVE_LINE_BYTES // 6 + 1), f"longer than {MAX_GLOVE_LINE_BYTES}"),
        ("just words\n", "no GloVe vectors"),
    ],
)
def test_glove_errors_never_quote_the_file(data_dir: Path, content: str, problem: str) -> None:
    (data_dir / "vectors.txt").write_text(content)
    with pytest.raises(GloveFileError) as caught:
        load_glove("vectors.txt", data_dir=data_dir)
    message = str(caught.value)
    assert problem in message and "vectors.txt" in message
    assert "s3cr3t" not in message


def test_a_glove_file_over_the_size_limit_is_not_read(data_dir: Path) -> None:
    (data_dir / "vectors.txt").write_text("flight 0.5 1.0\n" * 100)
    with pytest.raises(GloveFileError, match="more than the 1000 allowed"):
        load_glove("vectors.txt", data_dir=data_dir, max_bytes=1000)

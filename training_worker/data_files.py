"""Where a job's data files may come from: regular files inside the training worker's data directory, of bounded size.

A job names a file by a path relative to the data directory (or an absolute one inside it); symbolic links are
followed first, so a link inside the directory that points outside it is refused like the outside path itself.
Messages name the path and the problem, never anything read from the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

from training_worker.settings import get_settings


class DataFileError(ValueError):
    """A data file a job may not read; the message names the path and what is wrong with it."""


def resolve_data_file(value: str, data_dir: Path, max_bytes: int, what: str = "data file") -> Path:
    """The real path of `value` inside `data_dir`, once it is known to be a regular file of at most `max_bytes`."""
    if not value or "\x00" in value:
        raise DataFileError(f"{what} {value!r}: not a file name")
    root = Path(os.path.realpath(data_dir))
    candidate = Path(value)
    target = Path(os.path.realpath(candidate if candidate.is_absolute() else root / candidate))
    if not target.is_relative_to(root):
        raise DataFileError(
            f"{what} {value!r}: outside the data directory {root}; put the file there and name it relative to it"
        )
    try:
        info = target.stat()
    except FileNotFoundError:
        raise DataFileError(f"{what} {value!r}: no such file in the data directory {root}") from None
    except OSError as exc:
        raise DataFileError(f"{what} {value!r}: cannot be read ({exc.__class__.__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        raise DataFileError(f"{what} {value!r}: not a regular file")
    if info.st_size > max_bytes:
        raise DataFileError(f"{what} {value!r}: {info.st_size} bytes, more than the {max_bytes} allowed")
    if not os.access(target, os.R_OK):
        raise DataFileError(f"{what} {value!r}: not readable by the training worker")
    return target


def job_data_file(
    value: str,
    data_dir: Path | None,
    max_bytes: int | None,
    what: str,
    size_setting: Literal["max_dataset_bytes", "max_glove_bytes"],
) -> Path:
    """resolve_data_file, with the training worker's DATA_DIR and its `size_setting` limit where they are not given."""
    if data_dir is None or max_bytes is None:
        settings = get_settings()
        data_dir = settings.data_dir if data_dir is None else data_dir
        max_bytes = getattr(settings, size_setting) if max_bytes is None else max_bytes
    return resolve_data_file(value, data_dir, max_bytes, what)

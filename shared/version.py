"""The release version, read from the installed package's metadata so that pyproject.toml stays its one source."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "air-paradis-sentiment"


@cache
def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        # Running from a source tree that was never installed: say so rather than invent a number.
        return "0+unknown"

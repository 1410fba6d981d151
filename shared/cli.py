"""What every service's `python -m <service>` shares: its `--help`, and a refusal of bad settings in one line."""

from __future__ import annotations

import argparse

from pydantic import ValidationError


def parse_service_args(prog: str, description: str, epilog: str, argv: list[str] | None) -> argparse.Namespace:
    """A service takes no arguments, only settings from the environment: `--help` says which, and answers before
    any setting is read."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    return parser.parse_args(argv)


def settings_problems(exc: ValidationError) -> str:
    """Each bad setting by its variable name and what is wrong, never the value given (it may be a secret)."""
    problems = []
    for error in exc.errors():
        variable = "_".join(str(part) for part in error["loc"]).upper() or "settings"
        problems.append(f"{variable}: {str(error['msg']).removeprefix('Value error, ')}")
    return "; ".join(problems)

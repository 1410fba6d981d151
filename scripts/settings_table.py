"""Prints the Markdown table of every service's settings (variable, default, service) for docs/settings.md."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

SERVICES = {
    "gateway": "gateway.settings:GatewaySettings",
    "inference worker": "inference_worker.settings:InferenceSettings",
    "training worker": "training_worker.settings:TrainingSettings",
    "alerting": "alerting.settings:AlertingSettings",
    "log writer": "log_writer.settings:LogWriterSettings",
    "ui": "ui.settings:UiSettings",
}


# Read by the Redis that ./scripts/run.sh or Compose starts, not by a service's Settings.
STACK_SETTINGS = {
    ("REDIS_MAXMEMORY", "`256mb` (`noeviction`: past it Redis refuses writes)"): ["redis (run.sh, Compose)"],
}


def _load(path: str) -> type | None:
    module_name, _, class_name = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return None


def _shown(default: object) -> str:
    if isinstance(default, SecretStr):
        return "(secret; dev default, refused in production)" if default.get_secret_value() else "(secret)"
    if isinstance(default, str | Path) and Path(default).is_relative_to(Path.home()):
        # The home directory of whoever generates the table is not the reader's.
        default = f"~/{Path(default).relative_to(Path.home())}"
    if isinstance(default, float) and default.is_integer():
        # `300` and `300.0` are one default to the reader (an int field in one service, a float in another).
        default = int(default)
    return f"`{default}`" if default not in (None, "") else "(unset)"


def _variable(name: str, field: FieldInfo) -> str:
    """The variable a field reads: its name, or its first alias with the others it also accepts."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        first, *others = (str(choice).upper() for choice in alias.choices)
        return f"{first} (or {', '.join(others)})" if others else first
    return str(alias).upper() if isinstance(alias, str) else name.upper()


def _code(variables: str) -> str:
    """`GATEWAY_PORT` (or `PORT`): every variable name set in code."""
    return re.sub(r"[A-Z][A-Z0-9_]+", lambda match: f"`{match.group(0)}`", variables)


def main() -> int:
    rows: dict[tuple[str, str], list[str]] = dict(STACK_SETTINGS)
    for service, path in SERVICES.items():
        settings_class = _load(path)
        if settings_class is None:
            continue
        for name, field in settings_class.model_fields.items():
            shown = _shown(field.get_default(call_default_factory=True))
            rows.setdefault((_variable(name, field), shown), []).append(service)
    # A variable whose default differs between services gets one row per service, named as such.
    per_service = {env for env, _ in rows if sum(1 for other, _ in rows if other == env) > 1}
    print("| variable | default | used by |")
    print("| --- | --- | --- |")
    for (env, shown), services in sorted(rows.items()):
        label = f"{_code(env)} ({', '.join(services)})" if env in per_service else _code(env)
        print(f"| {label} | {shown} | {', '.join(services)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

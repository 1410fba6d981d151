"""Prints the Markdown table of every service's settings (environment variable, default, service) for the README."""

from __future__ import annotations

import importlib
import sys

from pydantic import SecretStr

SERVICES = {
    "gateway": "gateway.settings:GatewaySettings",
    "inference worker": "inference_worker.settings:InferenceSettings",
    "training worker": "training_worker.settings:TrainingSettings",
    "alerting": "alerting.settings:AlertingSettings",
    "ui": "ui.settings:UiSettings",
}


def _load(path: str) -> type | None:
    module_name, _, class_name = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return None


def main() -> int:
    rows: dict[tuple[str, str], list[str]] = {}
    for service, path in SERVICES.items():
        settings_class = _load(path)
        if settings_class is None:
            continue
        for name, field in settings_class.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if isinstance(default, SecretStr):
                shown = "(secret; dev default, refused in production)" if default.get_secret_value() else "(secret)"
            else:
                shown = f"`{default}`" if default not in (None, "") else "(unset)"
            rows.setdefault((name.upper(), shown), []).append(service)
    print("| variable | default | used by |")
    print("| --- | --- | --- |")
    for (env, shown), services in sorted(rows.items()):
        print(f"| `{env}` | {shown} | {', '.join(services)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

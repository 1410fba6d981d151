"""Named API keys: where they come from, who each one is, and the configurations the gateway refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from gateway.api_keys import Caller
from gateway.deps import caller_of_key
from gateway.settings import GatewaySettings

ALICE_KEY = "alice-key-0123456789"
BOB_KEY = "bob-key-0123456789"


def settings(**values: object) -> GatewaySettings:
    legacy = {"analyst_api_key": SecretStr("legacy-analyst-key"), "admin_api_key": SecretStr("legacy-admin-key")}
    return GatewaySettings(environment="test", **{**legacy, **values})


def keys_file(tmp_path: Path, entries: object) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(entries))
    return path


def test_the_single_keys_are_one_analyst_and_one_admin() -> None:
    configured = settings()
    assert caller_of_key("legacy-analyst-key", configured) == Caller("analyst", "analyst")
    assert caller_of_key("legacy-admin-key", configured) == Caller("admin", "admin")


def test_named_keys_from_the_api_keys_setting_and_from_a_file(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("API_KEYS", json.dumps([{"name": "alice", "role": "analyst", "key": ALICE_KEY}]))
    monkeypatch.setenv("API_KEYS_FILE", str(keys_file(tmp_path, [{"name": "bob", "role": "admin", "key": BOB_KEY}])))
    configured = settings()
    assert caller_of_key(ALICE_KEY, configured) == Caller("alice", "analyst")
    assert caller_of_key(BOB_KEY, configured) == Caller("bob", "admin")
    assert caller_of_key("legacy-analyst-key", configured) == Caller("analyst", "analyst")


def test_a_near_miss_of_a_named_key_is_refused() -> None:
    configured = settings(api_keys=[{"name": "alice", "role": "analyst", "key": ALICE_KEY}])
    for near_miss in (ALICE_KEY[:-1], ALICE_KEY + "9", ALICE_KEY[:-1] + "8", " " + ALICE_KEY, "é" + ALICE_KEY, ""):
        assert caller_of_key(near_miss, configured) is None, near_miss


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (
            {"admin_api_key": SecretStr("legacy-analyst-key")},
            "admin key of 'admin' equals the analyst key of 'analyst'",
        ),
        (
            {"api_keys": [{"name": "root", "role": "admin", "key": "legacy-analyst-key"}]},
            "admin key of 'root' equals the analyst key of 'analyst'",
        ),
        (
            {
                "api_keys": [
                    {"name": "alice", "role": "analyst", "key": ALICE_KEY},
                    {"name": "root", "role": "admin", "key": ALICE_KEY},
                ]
            },
            "admin key of 'root' equals the analyst key of 'alice'",
        ),
        (
            {
                "api_keys": [
                    {"name": "alice", "role": "analyst", "key": ALICE_KEY},
                    {"name": "carol", "role": "analyst", "key": ALICE_KEY},
                ]
            },
            "keys of 'alice' and 'carol' are equal",
        ),
        (
            {
                "api_keys": [
                    {"name": "alice", "role": "analyst", "key": ALICE_KEY},
                    {"name": "alice", "role": "analyst", "key": BOB_KEY},
                ]
            },
            "two API keys are named 'alice'",
        ),
        ({"api_keys": [{"name": "admin", "role": "admin", "key": BOB_KEY}]}, "belongs to ADMIN_API_KEY"),
        ({"api_keys": [{"name": "a b", "role": "analyst", "key": BOB_KEY}]}, "api_keys.0.name"),
        ({"api_keys": [{"name": "bob", "role": "owner", "key": BOB_KEY}]}, "api_keys.0.role"),
    ],
)
def test_ambiguous_or_malformed_keys_are_refused_without_echoing_a_key(values: dict, fragment: str) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(**values)
    message = str(refused.value)
    assert fragment in message
    for key in ("legacy-analyst-key", ALICE_KEY, BOB_KEY):
        assert key not in message


def test_an_admin_key_in_the_file_equal_to_an_analyst_key_is_refused(tmp_path: Path) -> None:
    path = keys_file(tmp_path, [{"name": "root", "role": "admin", "key": ALICE_KEY}])
    with pytest.raises(ValidationError, match="admin key of 'root' equals the analyst key of 'alice'"):
        settings(api_keys=[{"name": "alice", "role": "analyst", "key": ALICE_KEY}], api_keys_file=path)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "cannot be read"),
        ("{not json", "is not JSON"),
        (json.dumps({"alice": ALICE_KEY}), "must be a JSON list"),
        (json.dumps([{"name": "alice", "key": ALICE_KEY}]), "0.role: Field required"),
    ],
)
def test_an_unusable_keys_file_is_refused_saying_why(tmp_path: Path, content: str | None, fragment: str) -> None:
    path = tmp_path / "keys.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValidationError) as refused:
        settings(api_keys_file=path)
    assert fragment in str(refused.value) and ALICE_KEY not in str(refused.value)


def test_a_named_key_left_at_a_default_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match=r"API_KEYS\[BOB\]"):
        GatewaySettings(
            environment="production",
            analyst_api_key=SecretStr("a-long-random-analyst-key"),
            admin_api_key=SecretStr("a-long-random-admin-key"),
            api_keys=[{"name": "bob", "role": "analyst", "key": "change-me"}],
        )

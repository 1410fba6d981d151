"""Pieces every page shares: the settings and client of this run, the keys in the sidebar, the banners and errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import streamlit as st

from ui.api import ApiError, GatewayClient
from ui.settings import UiSettings, get_settings

ANALYST_KEY = "analyst_api_key"
ADMIN_KEY = "admin_api_key"
_KEY_NAMES = {ANALYST_KEY: "analyst (or admin) API key", ADMIN_KEY: "admin API key"}
# Markdown, LaTeX ($), emoji/icon shortcodes (:) and HTML-looking text in a tweet must show as typed.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:])")
T = TypeVar("T")


@dataclass(frozen=True)
class PageContext:
    settings: UiSettings
    client: GatewayClient

    def analyst_client(self) -> GatewayClient | None:
        """A client carrying the analyst key, or the admin key (admins may do what analysts do); None without one."""
        key = st.session_state.get(ANALYST_KEY) or st.session_state.get(ADMIN_KEY)
        return self.client.with_key(key) if key else None

    def admin_client(self) -> GatewayClient | None:
        key = st.session_state.get(ADMIN_KEY)
        return self.client.with_key(key) if key else None


def page_context() -> PageContext:
    settings = get_settings()
    return PageContext(settings, GatewayClient(settings.gateway_url, settings.request_timeout_s))


def sidebar_keys() -> None:
    """Keys are typed once per browser session and live only in `st.session_state`: never in a URL or a log."""
    with st.sidebar:
        st.markdown("**API keys**")
        st.text_input(
            "Analyst key", type="password", key=ANALYST_KEY, help="Flag predictions and read alerts (X-API-Key)."
        )
        st.text_input("Admin key", type="password", key=ADMIN_KEY, help="Registered models and training jobs.")


def gateway_banner(context: PageContext) -> bool:
    """A banner naming the URL tried when the gateway does not answer; True when it does."""
    try:
        context.client.health(timeout_s=context.settings.health_timeout_s)
    except ApiError as exc:
        st.error(
            f"**Gateway unreachable** — {exc.message}. Start it (`python -m gateway`) or point the UI at it "
            "with `GATEWAY_URL`.",
            icon=":material/cloud_off:",
        )
        return False
    return True


def require_key(key_name: str, needs: str | None = None) -> bool:
    """Says which key a page needs when it is missing; True when it is there."""
    if st.session_state.get(key_name) or (key_name == ANALYST_KEY and st.session_state.get(ADMIN_KEY)):
        return True
    st.warning(
        f"This page needs {needs or 'the ' + _KEY_NAMES[key_name]}: enter it in the sidebar.", icon=":material/key:"
    )
    return False


def show_api_error(exc: ApiError, action: str) -> None:
    """One message per kind of failure, never a traceback."""
    if exc.unreachable:
        st.error(f"Could not {action}: {exc.message}.", icon=":material/cloud_off:")
    elif exc.status == 401:
        st.error(f"Could not {action}: the gateway refused the key (401: {exc.message}). Check it in the sidebar.")
    elif exc.status == 403:
        st.error(f"Could not {action}: this key's role may not do that (403: {exc.message}).")
    elif exc.status == 422:
        st.error(f"Could not {action}: {exc.message}", icon=":material/edit:")
    elif exc.unavailable:
        retry = "" if "retry in" in exc.message.lower() else _retry_hint(exc.retry_after_s)
        st.warning(
            f"The service is busy or down, so it could not {action}: {exc.message}.{retry}",
            icon=":material/hourglass_top:",
        )
    elif exc.status == 404:
        st.error(f"Could not {action}: not found ({exc.message}).")
    elif exc.status == 429:
        retry = _retry_hint(exc.retry_after_s)
        st.warning(
            f"Too many requests, so it could not {action}: {exc.message}.{retry}", icon=":material/hourglass_top:"
        )
    else:
        st.error(f"Could not {action}: the gateway answered {exc.status}: {exc.message}")


def fetched(read: Callable[[], T], action: str) -> T | None:
    """What `read` gets from the gateway, or None once its failure to `action` is shown."""
    try:
        return read()
    except ApiError as exc:
        show_api_error(exc, action)
        return None


def _retry_hint(retry_after_s: int | None) -> str:
    return f" Retry in {retry_after_s} s." if retry_after_s else " Retry in a few seconds."


def escape_markdown(text: str) -> str:
    """`text` as it was typed when drawn by `st.markdown` (a tweet, a key name); line breaks become spaces."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(text.split()))

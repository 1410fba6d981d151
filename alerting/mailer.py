"""Delivery of a rendered report: over SMTP (STARTTLS and login optional) or as an .eml file in the outbox folder."""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol

from pydantic import SecretStr


class DeliveryFailed(Exception):
    """The report did not go out this time; the caller keeps it and tries again later."""


class Mailer(Protocol):
    kind: Literal["smtp", "outbox"]

    def deliver(self, message: EmailMessage, report_id: str) -> str:
        """Deliver or raise DeliveryFailed; returns where it went (recipients or file path)."""
        ...


def backoff_s(attempts: int, initial_s: float, max_s: float) -> float:
    """Delay before try number `attempts + 1`: doubles from `initial_s`, capped at `max_s`."""
    return min(max_s, initial_s * (2 ** max(0, attempts - 1)))


class SmtpMailer:
    kind: Literal["smtp", "outbox"] = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        mail_from: str,
        mail_to: Sequence[str],
        starttls: bool = True,
        user: str | None = None,
        password: SecretStr | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.mail_from = mail_from
        self.mail_to = list(mail_to)
        self.starttls = starttls
        self.user = user
        self.password = password
        self.timeout_s = timeout_s

    def deliver(self, message: EmailMessage, report_id: str) -> str:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password.get_secret_value() if self.password else "")
                refused = smtp.send_message(message, from_addr=self.mail_from, to_addrs=self.mail_to)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP {self.host}:{self.port}: {exc.__class__.__name__}: {exc}"[:500]) from exc
        accepted = [address for address in self.mail_to if address not in refused]
        return ", ".join(accepted)


class OutboxMailer:
    """The embedded default: one .eml per report, named by report id so that writing it twice changes nothing."""

    kind: Literal["smtp", "outbox"] = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def deliver(self, message: EmailMessage, report_id: str) -> str:
        target = self.folder / f"{report_id}.eml"
        partial = target.with_suffix(".eml.partial")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(bytes(message))
            # A reader of the outbox never sees half a message: the file appears whole or not at all.
            os.replace(partial, target)
        except OSError as exc:
            raise DeliveryFailed(f"outbox {self.folder}: {exc}") from exc
        return str(target.resolve())

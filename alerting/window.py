"""The alert rule as pure logic: N events within a sliding window fire once, then a cooldown; no I/O.

Times are event times (when the analyst flagged), so a backlog read after a restart is judged as it happened.
The clock only moves the window forward while no event arrives: to let old events go and to end a cooldown.

Each event is *about* something (a prediction): what it is about counts at most once within the window, including
once reported, so flagging one prediction wrong, right and wrong again never adds up to a report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Firing:
    """A burst that deserves a report: the keys of its events, oldest first, and the span they cover."""

    keys: list[str]
    window_start: float
    window_end: float


@dataclass
class Decision:
    """What the caller must do after a step: report `fired`, acknowledge `expired` and `duplicates` (they will
    never alert: too old, or about something already counted)."""

    fired: Firing | None = None
    expired: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


class SlidingWindow:
    def __init__(
        self,
        threshold: int,
        window_s: float,
        cooldown_s: float,
        clock: Callable[[], float] = time.time,
        last_fired_at: float | None = None,
        reported: Mapping[str, float] | None = None,
    ) -> None:
        self.threshold = threshold
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.last_fired_at = last_fired_at
        self._entries: list[tuple[float, str, str]] = []  # (at, key, about), oldest first
        # What recent reports were about, with their events' times: a restart passes those of stored reports.
        self._reported: dict[str, float] = dict(reported or {})

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[str]:
        return [key for _, key, _ in self._entries]

    def add(self, key: str, at: float, about: str | None = None) -> Decision:
        """One event, flagged at `at`, about `about` (itself when None); judged at its own time so that replayed
        events keep their spacing. Of two events about the same thing the later one stays, the other is a
        duplicate; an event about something reported less than `window_s` before is a duplicate."""
        about = key if about is None else about
        decision = Decision()
        reported_at = self._reported.get(about)
        if reported_at is not None and abs(at - reported_at) < self.window_s:
            decision.duplicates.append(key)
            return self._evaluate(at, decision)
        for index, (held_at, held_key, held_about) in enumerate(self._entries):
            if held_about != about:
                continue
            if held_at >= at:
                decision.duplicates.append(key)
                return self._evaluate(at, decision)
            del self._entries[index]
            decision.duplicates.append(held_key)
            break
        self._entries.append((at, key, about))
        self._entries.sort()
        return self._evaluate(at, decision)

    def tick(self) -> Decision:
        """Advance to the clock's now: events older than the window leave, an ended cooldown may fire."""
        return self._evaluate(self.clock())

    def in_cooldown(self, now: float) -> bool:
        return self.last_fired_at is not None and now < self.last_fired_at + self.cooldown_s

    def _evaluate(self, now: float, decision: Decision | None = None) -> Decision:
        decision = decision or Decision()
        # An event exactly `window_s` old is out: "within five minutes" means strictly less than 300 s apart.
        horizon = now - self.window_s
        while self._entries and self._entries[0][0] <= horizon:
            decision.expired.append(self._entries.pop(0)[1])
        for about in [about for about, at in self._reported.items() if at <= horizon]:
            del self._reported[about]
        if len(self._entries) >= self.threshold and not self.in_cooldown(now):
            decision.fired = Firing(
                keys=[key for _, key, _ in self._entries],
                window_start=self._entries[0][0],
                window_end=self._entries[-1][0],
            )
            # A new window starts after a report: these events are in it and are not counted again.
            self._reported.update({about: at for at, _, about in self._entries})
            self._entries.clear()
            self.last_fired_at = now
        return decision

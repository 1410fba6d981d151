"""The alert rule with a clock the test controls: bursts in the window fire once, slow ones never, cooldown holds."""

from __future__ import annotations

import pytest

from alerting.window import SlidingWindow


class Clock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def flag_at(window: SlidingWindow, clock: Clock, offsets_s: list[float]) -> list[list[str]]:
    """Flags one event at each offset from the clock's start (ticking in between, as the service does)."""
    start = clock.now
    fired = []
    for number, offset in enumerate(offsets_s):
        clock.now = start + offset
        decision = window.add(f"e{number}", clock.now)
        if decision.fired:
            fired.append(decision.fired.keys)
        decision = window.tick()
        if decision.fired:
            fired.append(decision.fired.keys)
    return fired


def test_three_flags_in_4_min_59_s_send_one_report() -> None:
    clock = Clock()
    window = SlidingWindow(threshold=3, window_s=300, cooldown_s=600, clock=clock)
    assert flag_at(window, clock, [0, 120, 299]) == [["e0", "e1", "e2"]]
    assert len(window) == 0  # a new window starts after the report


def test_three_flags_in_5_min_01_s_send_nothing() -> None:
    clock = Clock()
    window = SlidingWindow(threshold=3, window_s=300, cooldown_s=600, clock=clock)
    assert flag_at(window, clock, [0, 120, 301]) == []
    assert window.keys() == ["e1", "e2"]


def test_an_event_leaves_the_window_as_the_clock_passes_it() -> None:
    clock = Clock()
    window = SlidingWindow(threshold=3, window_s=300, cooldown_s=0, clock=clock)
    window.add("old", clock.now)
    clock.advance(299)
    assert window.tick().expired == []
    clock.advance(2)
    assert window.tick().expired == ["old"]


@pytest.mark.parametrize(
    ("cooldown_s", "expected_reports"),
    [
        (0, [["e0", "e1", "e2"], ["e3", "e4", "e5"]]),  # no cooldown: one report per three flags
        (3600, [["e0", "e1", "e2"]]),  # cooldown longer than the window: the rest age out unreported
    ],
)
def test_seven_quick_flags_send_the_configured_number_of_reports(
    cooldown_s: float, expected_reports: list[list[str]]
) -> None:
    clock = Clock()
    window = SlidingWindow(threshold=3, window_s=300, cooldown_s=cooldown_s, clock=clock)
    fired = flag_at(window, clock, [0, 1, 2, 3, 4, 5, 6])
    for _ in range(20):  # let an hour pass, a tick each 3 minutes
        clock.advance(180)
        decision = window.tick()
        if decision.fired:
            fired.append(decision.fired.keys)
    assert fired == expected_reports


def test_flags_held_by_a_cooldown_go_out_together_when_it_ends() -> None:
    clock = Clock()
    window = SlidingWindow(threshold=3, window_s=300, cooldown_s=60, clock=clock)
    fired = flag_at(window, clock, [0, 1, 2, 3, 4, 5, 6])
    assert fired == [["e0", "e1", "e2"]]
    clock.advance(55)  # 59 s after the first report: still cooling down
    assert window.tick().fired is None
    clock.advance(5)
    late = window.tick().fired
    assert late is not None and late.keys == ["e3", "e4", "e5", "e6"]


def test_a_backlog_is_judged_by_event_times_not_by_when_it_is_read() -> None:
    clock = Clock()
    window = SlidingWindow(threshold=3, window_s=300, cooldown_s=0, clock=clock)
    # Read an hour after the burst happened (alerting was down): the burst still deserves its report.
    events_at = [clock.now - 3600, clock.now - 3590, clock.now - 3580]
    decisions = [window.add(f"e{n}", at) for n, at in enumerate(events_at)]
    assert decisions[-1].fired is not None
    assert decisions[-1].fired.window_end - decisions[-1].fired.window_start == 20


def test_a_restored_cooldown_keeps_holding_after_a_restart() -> None:
    clock = Clock()
    window = SlidingWindow(threshold=3, window_s=300, cooldown_s=120, clock=clock, last_fired_at=clock.now - 30)
    assert flag_at(window, clock, [0, 1, 2]) == []
    clock.advance(100)
    assert window.tick().fired is not None

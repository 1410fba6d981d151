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


def test_one_prediction_flagged_wrong_three_times_counts_once() -> None:
    clock = Clock()
    window = SlidingWindow(threshold=3, window_s=300, cooldown_s=0, clock=clock)
    # Wrong, right, wrong, right, wrong: three misprediction events about one prediction.
    decisions = [window.add(f"e{n}", clock.now + 10 * n, about="p1") for n in range(3)]
    assert [d.fired for d in decisions] == [None, None, None]
    assert [d.duplicates for d in decisions] == [[], ["e0"], ["e1"]]  # the latest flag stays, the others go
    assert window.keys() == ["e2"] and len(window) == 1
    window.add("e3", clock.now + 40, about="p2")
    fired = window.add("e4", clock.now + 50, about="p3").fired
    assert fired is not None and fired.keys == ["e2", "e3", "e4"]


def test_an_older_event_about_a_held_prediction_is_the_duplicate() -> None:
    clock = Clock()
    window = SlidingWindow(threshold=3, window_s=300, cooldown_s=0, clock=clock)
    window.add("late", clock.now + 20, about="p1")
    assert window.add("early", clock.now + 10, about="p1").duplicates == ["early"]
    assert window.keys() == ["late"]


def test_a_reported_prediction_flagged_again_counts_only_after_the_window() -> None:
    clock = Clock()
    window = SlidingWindow(threshold=3, window_s=300, cooldown_s=0, clock=clock)
    start = clock.now
    for n, about in enumerate(["p1", "p2", "p3"]):
        decision = window.add(f"e{n}", start + n, about=about)
    assert decision.fired is not None
    # The same three predictions flipped back and flagged again a minute later: no second report.
    again = [window.add(f"again{n}", start + 60 + n, about=about) for n, about in enumerate(["p1", "p2", "p3"])]
    assert [d.duplicates for d in again] == [["again0"], ["again1"], ["again2"]]
    assert all(d.fired is None for d in again) and len(window) == 0
    # Once the window has passed since they were reported, a new flag of them is news again.
    later = [window.add(f"later{n}", start + 400 + n, about=about) for n, about in enumerate(["p1", "p2", "p3"])]
    assert later[-1].fired is not None and later[-1].fired.keys == ["later0", "later1", "later2"]


def test_what_was_reported_before_a_restart_still_counts_once() -> None:
    clock = Clock()
    window = SlidingWindow(
        threshold=3, window_s=300, cooldown_s=0, clock=clock, reported={"p1": clock.now - 100, "p2": clock.now - 400}
    )
    assert window.add("e0", clock.now, about="p1").duplicates == ["e0"]
    assert window.add("e1", clock.now, about="p2").duplicates == []  # reported longer ago than the window

"""The history part of the report and its SVG timeline, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from souverain.history.chain import History, Violation, append
from souverain.history.record import anchor, everything, observe
from souverain.history.verify import verify
from souverain.report.history import timeline
from souverain.report.timeline import history_section

T0 = datetime(2026, 11, 1, tzinfo=UTC)
POD = Violation("PodOnUnqualifiedNode", "Pod/web", "runs on node n1, which does not qualify")


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def step(history: History, current: list[Violation], days: float, first: bool = False) -> History:
    head = anchor(history, "x/y") if history.count else None
    return observe(history, head, current, everything, at(days), "a", first_in_term=first)[0]


def month() -> History:
    """Clean from Nov 1 to 10, the pod on a bad node from 10 to 12, then clean until 20;
    the operator stopped from 20 to 25, and observed clean again until 30."""
    history = step(History(), [], 0, first=True)
    for day in range(1, 10):
        history = append(history, at(day), "checkpoint", observer="a")
    history = step(history, [POD], 10)
    history = step(history, [], 12)
    history = append(history, at(20), "checkpoint", observer="a")
    history = step(history, [], 25, first=True)
    return append(history, at(30), "checkpoint", observer="b")


def test_intervals_clean_and_unobserved_stretches_read_as_such() -> None:
    history = month()
    found = timeline(history, verify(history, anchor(history, "x/y")), T0, at(30))
    assert found.chain == "intact"
    assert [(i.start, i.end) for i in found.violations] == [(at(10), at(12))]
    assert [(s.start, s.end) for s in found.clean] == [
        (at(0), at(10)),
        (at(12), at(20)),
        (at(25), at(30)),
    ]
    assert [(s.start, s.end) for s in found.unobserved] == [(at(20), at(25))]
    assert found.statements == [
        "no violation between 2026-11-01 and 2026-11-11",
        "PodOnUnqualifiedNode Pod/web from 2026-11-11 to 2026-11-13:"
        " runs on node n1, which does not qualify",
        "no violation between 2026-11-13 and 2026-11-21",
        "not observed between 2026-11-21 and 2026-11-26: no replica of the operator was active",
        "no violation between 2026-11-26 and 2026-12-01",
    ]


def test_an_open_violation_lasts_until_now_and_nothing_is_claimed_before_the_history() -> None:
    history = step(step(History(), [], 5, first=True), [POD], 6)
    found = timeline(history, verify(history, anchor(history, "x/y")), T0, at(8))
    assert found.violations[0].end is None
    assert found.statements[0] == "the history begins at 2026-11-06: nothing is claimed before"
    assert "until now (still open)" in found.statements[-1]
    assert [(s.start, s.end) for s in found.clean] == [(at(5), at(6))]


def test_the_timeline_is_an_inline_svg_without_script() -> None:
    history = month()
    html = history_section(timeline(history, verify(history, None), T0, at(30)))
    assert "<svg" in html
    assert 'class="violation"' in html
    assert 'class="gap"' in html
    assert "<script" not in html
    assert "href" not in html
    assert "broken: the SovereignNamespace" in html

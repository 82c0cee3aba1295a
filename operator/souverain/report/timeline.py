"""A namespace's history as an inline SVG timeline: a bar per violation, covered
stretches in green, unobserved ones hatched grey, an axis with dates. No script, no
external asset: the page stays one self-contained file."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from souverain.report.history import when
from souverain.report.schema import NamespaceHistory

WIDTH = 760
LEFT = 200
ROW = 18
TICKS = 5


def _x(moment: datetime, since: datetime, until: datetime) -> float:
    span = max((until - since).total_seconds(), 1.0)
    offset = min(max((moment - since).total_seconds(), 0.0), span)
    return LEFT + (WIDTH - LEFT - 10) * offset / span


def timeline_svg(history: NamespaceHistory) -> str:
    """The SVG of ``history``: one row for coverage, one per violation."""
    since, until = history.since, history.until

    def x(moment: datetime) -> float:
        return _x(moment, since, until)

    def bar(y: float, a: datetime, b: datetime, css: str, title: str) -> str:
        left, right = x(a), x(b)
        return (
            f'<rect class="{css}" x="{left:.1f}" y="{y:.1f}" width="{max(right - left, 1.5):.1f}"'
            f' height="{ROW - 6}"><title>{escape(title)}</title></rect>'
        )

    parts = [
        f'<text x="4" y="{ROW - 6}">observed</text>',
        *(
            bar(4, s.start, s.end, "clean", f"no violation {when(s.start)} to {when(s.end)}")
            for s in history.clean
        ),
        *(
            bar(4, s.start, s.end, "gap", f"not observed {when(s.start)} to {when(s.end)}")
            for s in history.unobserved
        ),
    ]
    for row, interval in enumerate(history.violations, 1):
        y = 4 + row * ROW
        label = f"{interval.kind} {interval.object}"
        parts.append(f'<text x="4" y="{y + ROW - 10}">{escape(label[:30])}</text>')
        end = interval.end or until
        parts.append(
            bar(
                y,
                interval.start,
                end,
                "violation",
                f"{label}: {when(interval.start)} to "
                + (when(interval.end) if interval.end else "now"),
            )
        )
    axis = 8 + (len(history.violations) + 1) * ROW
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{axis}" x2="{WIDTH - 10}" y2="{axis}"/>')
    step = (until - since) / TICKS
    for tick in range(TICKS + 1):
        moment = since + step * tick
        if step < timedelta(days=1):
            text = moment.strftime("%m-%d %H:%M")
        else:
            text = moment.strftime("%Y-%m-%d")
        tx = x(moment)
        parts.append(
            f'<line class="axis" x1="{tx:.1f}" y1="{axis}" x2="{tx:.1f}" y2="{axis + 4}"/>'
        )
        parts.append(f'<text class="tick" x="{tx:.1f}" y="{axis + 16}">{escape(text)}</text>')
    height = axis + 22
    return (
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}"'
        f' height="{height}" viewBox="0 0 {WIDTH} {height}" role="img"'
        f' aria-label="violation history from {escape(when(since))} to {escape(when(until))}">'
        + "".join(parts)
        + "</svg>"
    )


STYLE = """
svg.timeline { font: 11px system-ui, sans-serif; background: #fafbfd; }
svg.timeline .clean { fill: #7cc490; }
svg.timeline .gap { fill: #c8ceda; }
svg.timeline .violation { fill: #d9534f; }
svg.timeline .axis { stroke: #6b7280; }
svg.timeline .tick { text-anchor: middle; fill: #6b7280; }
"""


def history_section(history: NamespaceHistory) -> str:
    """The history part of a namespace's section of the page."""
    chain = (
        '<span class="ok">intact</span>'
        if history.chain == "intact"
        else f'<span class="bad">broken: {escape(history.chain)}</span>'
    )
    items = "".join(f"<li>{escape(text)}</li>" for text in history.statements)
    return (
        f"<h3>History since {escape(when(history.since))}</h3>"
        f"<p>{history.records} record(s); chain {chain}.</p>"
        + timeline_svg(history)
        + f"<ul>{items}</ul>"
    )

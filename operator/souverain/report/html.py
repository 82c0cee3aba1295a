"""The report as one self-contained HTML page: inline style, no script, no external asset."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from souverain.report.schema import NamespaceReport, Report
from souverain.report.timeline import STYLE as TIMELINE_STYLE
from souverain.report.timeline import history_section

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1d2330; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 2px solid #1d3c78; }
h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
table { border-collapse: collapse; margin: .3rem 0 1rem; min-width: 30rem; }
th, td { border: 1px solid #c8ceda; padding: .25rem .6rem; text-align: left; }
th { background: #eef1f7; }
.ok { color: #146c2e; font-weight: 600; }
.bad { color: #b3261e; font-weight: 600; }
.muted { color: #6b7280; }
.summary td { font-size: 1.1rem; }
"""


def _yes_no(value: bool | None) -> str:
    if value is None:
        return '<span class="muted">unknown</span>'
    return '<span class="ok">yes</span>' if value else '<span class="bad">no</span>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text(value: object) -> str:
    return escape("" if value is None else str(value))


def _pod_security(part: NamespaceReport) -> str:
    found = part.pod_security
    if found is None:
        return '<p class="muted">Pod Security level: unknown.</p>'
    held = found.enforced == found.level
    return (
        f"<p>Pod Security level asked for: <b>{_text(found.level)}</b> ({_text(found.version)});"
        f" enforced by the namespace's label: "
        f'<span class="{"ok" if held else "bad"}">{_text(found.enforced or "none")}</span>.</p>'
    )


def _namespace(part: NamespaceReport) -> str:
    status = (
        '<span class="ok">no violation</span>'
        if not part.violations
        else f'<span class="bad">{len(part.violations)} violation(s)</span>'
    )
    sections = [
        f"<h2>Namespace {_text(part.name)}</h2>",
        f"<p>Profile <b>{_text(part.profile)}</b>, mode {_text(part.mode)}, "
        f"Ready {_text(part.ready)}: {status}. Enforced by: "
        f"{_text(', '.join(part.enforcement_layers) or 'nothing reported')}.</p>",
        "<h3>Nodes its pods run on</h3>",
        _table(
            ("node", "qualifies", "region", "zone", "jurisdiction labels"),
            (
                (
                    _text(n.name),
                    _yes_no(n.qualified),
                    _text(n.region),
                    _text(n.zone),
                    _text(", ".join(f"{k}={v}" for k, v in n.jurisdiction.items())),
                )
                for n in part.nodes
            ),
        ),
        "<h3>Pods</h3>",
        _table(
            (
                "pod",
                "node",
                "phase",
                "compliant",
                "egress isolated",
                "may reach",
                "past the profile",
            ),
            (
                (
                    _text(p.name),
                    _text(p.node),
                    _text(p.phase),
                    _yes_no(p.compliant),
                    _yes_no(p.egress_isolated),
                    "<br>".join(_text(d) for d in p.egress),
                    "<br>".join(
                        f'<span class="bad">{_text(e)}</span>' for e in p.egress_outside_profile
                    )
                    or "nothing",
                )
                for p in part.pods
            ),
        ),
        "<h3>Volumes</h3>",
        _table(
            ("claim", "class", "volume", "region", "zone", "resident", "why"),
            (
                (
                    _text(v.claim),
                    _text(v.storage_class),
                    _text(v.volume),
                    _text(v.region),
                    _text(v.zone),
                    _yes_no(v.resident),
                    _text(v.message),
                )
                for v in part.volumes
            ),
        ),
        "<h3>Images</h3>",
        f"<p>Allowed registries: {_text(', '.join(part.allowed_registries) or 'any registry')}."
        f" Images come from: {_text(', '.join(part.registries) or 'no registry')}.</p>",
        _table(
            ("image", "registry", "allowed", "pods"),
            (
                (
                    _text(i.image),
                    _text(i.registry or "not a reference souverain reads"),
                    _yes_no(i.allowed),
                    _text(", ".join(i.pods)),
                )
                for i in part.images
            ),
        ),
        "<h3>Snapshots</h3>",
        _table(
            (
                "snapshot",
                "class",
                "class allowed",
                "content",
                "driver",
                "region",
                "zone",
                "resident",
                "why",
            ),
            (
                (
                    _text(s.name),
                    _text(s.snapshot_class),
                    _yes_no(s.class_allowed),
                    _text(s.content),
                    _text(s.driver),
                    _text(s.region),
                    _text(s.zone),
                    _yes_no(s.resident),
                    _text(s.message),
                )
                for s in part.snapshots
            ),
        ),
        "<h3>Egress</h3>",
        _table(
            ("NetworkPolicy", "kept by the operator", "allows"),
            (
                (_text(e.policy), _yes_no(e.managed), "<br>".join(_text(r) for r in e.rules))
                for e in part.egress
            ),
        ),
        "<h3>Exposure and Pod Security</h3>",
        _pod_security(part),
        _table(
            ("Service", "type", "node ports", "external IPs", "load balancer", "past the profile"),
            (
                (
                    _text(e.name),
                    _text(e.type),
                    _text(", ".join(map(str, e.node_ports))),
                    _text(", ".join(e.external_ips)),
                    _text(", ".join(e.load_balancer_addresses)),
                    "<br>".join(f'<span class="bad">{_text(o)}</span>' for o in e.outside_profile)
                    or "nothing",
                )
                for e in part.services
            ),
        )
        if part.services
        else "<p>No Service is reachable from outside the cluster.</p>",
        "<h3>Violations</h3>",
        _table(
            ("seen", "kind", "object", "what"),
            (
                (
                    _text(v.seen_at.isoformat()),
                    f'<span class="bad">{_text(v.kind)}</span>',
                    _text(v.object),
                    _text(v.message),
                )
                for v in part.violations
            ),
        )
        if part.violations
        else '<p class="ok">None.</p>',
    ]
    if part.history is not None:
        sections.append(history_section(part.history))
    return "\n".join(sections)


def render(report: Report) -> str:
    """The page."""
    summary = report.summary
    rows = (
        ("Sovereign namespaces", str(summary.namespaces)),
        ("Violations", str(summary.violations)),
        ("Pods on qualified nodes", str(summary.compliant_pods)),
        ("Pods on other nodes", str(summary.non_compliant_pods)),
        (
            "Pods whose egress reaches past the profile",
            str(summary.pods_with_egress_outside_profile),
        ),
        (
            "Pods running images from outside the registries",
            str(summary.pods_with_images_outside_registries),
        ),
        ("Resident volumes", str(summary.resident_volumes)),
        ("Non-resident volumes", str(summary.non_resident_volumes)),
    )
    verdict = (
        '<p class="ok">No violation found.</p>'
        if summary.violations == 0
        else f'<p class="bad">{summary.violations} violation(s) found.</p>'
    )
    body = "\n".join(_namespace(part) for part in report.namespaces)
    generated = _text(report.generated_at.isoformat())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>souverain residency report</title>
<style>{STYLE}{TIMELINE_STYLE}</style>
</head>
<body>
<h1>Residency report</h1>
<p class="muted">{_text(report.api_version)} &middot; generated {generated}
&middot; cluster {_text(report.cluster)}</p>
{verdict}
<div class="summary">{_table(("measure", "count"), ((escape(k), escape(v)) for k, v in rows))}</div>
<p>Cluster-wide enforcement: {_text(", ".join(report.cluster_layers) or "none found")}.</p>
{body}
</body>
</html>
"""

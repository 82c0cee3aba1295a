"""The ``souverain`` command: the operator itself and the local control plane."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from souverain.devcluster.command import add_dev_cluster_parser
from souverain.settings import RunOptions, WebhookOptions, history_namespace


def _run(args: argparse.Namespace) -> int:
    from souverain.runtime.main import run

    options = RunOptions(
        log_format=args.log_format,
        verbose=args.verbose,
        liveness=args.liveness,
        metrics=args.metrics,
        lease=args.lease,
        identity=args.identity,
        lease_seconds=args.lease_seconds,
        watch_seconds=args.watch_seconds,
    )
    webhook = replace(
        WebhookOptions.from_environment(),
        listen=args.webhook_listen,
        url=args.webhook_url,
        service=args.webhook_service,
        cert_dir=args.webhook_cert_dir,
        layers=WebhookOptions.parse_layers(args.admission_layers),
    )
    return run(options, webhook)


def _crds(args: argparse.Namespace) -> int:
    from souverain.crdgen import chart_crd_files, write_crds

    for path in write_crds(Path(args.output)):
        print(path)
    if args.chart_output:
        for path in write_crds(Path(args.chart_output), chart_crd_files()):
            print(path)
    return 0


VIOLATIONS_FOUND = 3
"""Exit code of ``souverain report --fail-on-violation`` when the report lists violations."""
HISTORY_BROKEN = 4
"""Exit code of ``souverain report --verify`` when a namespace's history does not verify."""

EXIT_CODES = (
    "Exit codes: 0 done; 1 the input or the cluster cannot be used (one line on stderr"
    " says why: a file that is not a valid object, no kubeconfig, an API server that does"
    " not answer, a cluster without the souverain CRDs); 2 wrong arguments"
)


def _failed(message: str) -> int:
    """One line on stderr, and the exit code of an input or cluster that cannot be used."""
    print(f"souverain: {message}", file=sys.stderr)
    return 1


def _report(args: argparse.Namespace) -> int:
    from souverain.report.build import build_report
    from souverain.report.collect import ClusterError, cluster_state
    from souverain.report.html import render

    if args.schema:
        from souverain.report.schema import json_schema

        sys.stdout.write(json_schema())
        return 0
    if args.verify:
        return _verify(args)
    try:
        state = cluster_state(args.namespace)
    except ClusterError as error:
        return _failed(str(error))
    report = build_report(state, args.namespace)
    if args.namespace and not report.namespaces:
        return _failed(f"{args.namespace} is not a SovereignNamespace")
    if args.since is not None:
        from souverain.report.evidence import cluster_histories
        from souverain.report.history import timeline

        try:
            found = {h.namespace: h for h in cluster_histories(args.history_namespace)}
        except ClusterError as error:
            return _failed(str(error))
        for part in report.namespaces:
            if part.name in found:
                stored = found[part.name]
                part.history = timeline(
                    stored.history, stored.verdict(), args.since, report.generated_at
                )
    if args.format == "html":
        text = render(report)
    else:
        text = report.model_dump_json(by_alias=True, indent=2) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(args.output).write_text(text)
        except OSError as error:
            return _failed(f"cannot write {args.output}: {error.strerror or error}")
        print(
            f"{args.output}: {report.summary.namespaces} namespace(s), "
            f"{report.summary.violations} violation(s)",
            file=sys.stderr,
        )
    if args.fail_on_violation and report.summary.violations:
        return VIOLATIONS_FOUND
    return 0


def _verify(args: argparse.Namespace) -> int:
    """``souverain report --verify``: one line per namespace, and whether every chain holds."""
    from souverain.report.collect import ClusterError
    from souverain.report.evidence import cluster_histories, verdict_line

    try:
        found = cluster_histories(args.history_namespace, args.namespace)
    except ClusterError as error:
        return _failed(str(error))
    if args.namespace and not found:
        return _failed(f"{args.namespace} has no SovereignNamespace and no history")
    for stored in found:
        print(verdict_line(stored))
    return 0 if all(stored.verdict().intact for stored in found) else HISTORY_BROKEN


def since_date(text: str) -> datetime:
    """``--since``: an ISO date (midnight UTC) or date and time (UTC unless it says)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date (2026-11-01) or date and time (2026-11-01T08:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _documents(source: str) -> list[object]:
    """The YAML documents of a file (``-``: stdin), or ValueError saying in one line why
    there are none."""
    import yaml

    if source == "-":
        source = "stdin"
    try:
        text = sys.stdin.read() if source == "stdin" else Path(source).read_text()
    except OSError as error:
        raise ValueError(f"cannot read {source}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{source} is not text: {error}") from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or " ".join(str(error).split())
        raise ValueError(f"{source} is not YAML: {problem}{where}") from None
    if not documents:
        raise ValueError(f"{source} holds no object to plan")
    return documents


def _plan(args: argparse.Namespace) -> int:
    from souverain.report.collect import ClusterError, cluster_state
    from souverain.report.plan import describe, plan, planned_object

    # Every document is checked before the cluster is read: a bad file needs no cluster.
    try:
        documents = _documents(args.file)
    except ValueError as error:
        return _failed(str(error))
    planned = []
    for index, document in enumerate(documents, 1):
        try:
            planned.append(planned_object(document))
        except ValueError as error:
            return _failed(f"{args.file}: document {index}: {error}")
    try:
        state = cluster_state()
    except ClusterError as error:
        return _failed(str(error))
    for obj in planned:
        try:
            result = plan(obj, state)
        except ValueError as error:
            return _failed(str(error))
        if args.format == "json":
            print(result.model_dump_json(by_alias=True, indent=2))
        else:
            sys.stdout.write(describe(result))
    return 0


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    defaults = RunOptions.from_environment()
    top = argparse.ArgumentParser(prog="souverain", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig")
    run.add_argument("--log-format", choices=("plain", "json"), default=defaults.log_format)
    run.add_argument("--verbose", action="store_true", default=defaults.verbose)
    run.add_argument(
        "--liveness",
        default=defaults.liveness,
        metavar="HOST:PORT",
        help="where /healthz and /readyz are served (empty to disable)",
    )
    run.add_argument(
        "--lease",
        default=defaults.lease,
        metavar="NAMESPACE/NAME",
        help="the Lease replicas elect the active one with (default: none, act alone)",
    )
    run.add_argument(
        "--identity",
        default=defaults.identity,
        metavar="NAME",
        help="this replica's name in the Lease and its Events (default: host name_pid)",
    )
    run.add_argument(
        "--lease-seconds",
        type=float,
        default=defaults.lease_seconds,
        metavar="SECONDS",
        help="how long the Lease lasts unrenewed: the longest a failover takes",
    )
    run.add_argument(
        "--watch-seconds",
        type=int,
        default=defaults.watch_seconds,
        metavar="SECONDS",
        help="how long one watch lasts before the informers list again",
    )
    run.add_argument(
        "--metrics",
        default=defaults.metrics,
        metavar="HOST:PORT",
        help="where Prometheus metrics are served (empty to disable)",
    )
    webhook = WebhookOptions.from_environment()
    run.add_argument(
        "--webhook-listen",
        default=webhook.listen,
        metavar="HOST:PORT",
        help="where the admission webhooks listen (HTTPS)",
    )
    run.add_argument(
        "--webhook-url",
        default=webhook.url,
        metavar="URL",
        help="base URL the API server calls for the webhooks, outside a cluster"
        " (such as https://127.0.0.1:9443)",
    )
    run.add_argument(
        "--webhook-service",
        default=webhook.service,
        metavar="NAMESPACE/NAME[:PORT]",
        help="the Service the API server calls for the webhooks, in a cluster",
    )
    run.add_argument(
        "--webhook-cert-dir",
        default=webhook.cert_dir,
        metavar="DIR",
        help="tls.crt, tls.key and ca.crt of the webhook server (made there when absent;"
        " default: a temporary folder)",
    )
    run.add_argument(
        "--admission-layers",
        default=",".join(webhook.layers),
        metavar="LAYERS",
        help="placement layers to keep, comma-separated: native (admission policies),"
        " webhook, or both (default)",
    )
    run.set_defaults(handler=_run)

    report = commands.add_parser(
        "report",
        help="the residency report of the cluster or of one namespace",
        epilog=f"{EXIT_CODES}; {VIOLATIONS_FOUND} violations found with --fail-on-violation;"
        f" {HISTORY_BROKEN} a history does not verify, with --verify.",
    )
    report.add_argument("--namespace", help="only this sovereign namespace")
    report.add_argument("--format", choices=("json", "html"), default="json")
    report.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    report.add_argument(
        "--fail-on-violation",
        action="store_true",
        help=f"exit with code {VIOLATIONS_FOUND} when the report lists a violation",
    )
    report.add_argument(
        "--schema", action="store_true", help="print the report's JSON schema and exit"
    )
    report.add_argument(
        "--since",
        type=since_date,
        metavar="DATE",
        help="add each namespace's violation history from DATE (ISO date or date and time)"
        " to now: violations with start and end, clean and unobserved stretches",
    )
    report.add_argument(
        "--verify",
        action="store_true",
        help="check every namespace's history chain, one line each; exit with code"
        f" {HISTORY_BROKEN} naming the first broken record when one does not verify",
    )
    report.add_argument(
        "--history-namespace",
        default=history_namespace(),
        metavar="NAMESPACE",
        help="where the operator keeps the histories (default: $SOUVERAIN_HISTORY_NAMESPACE"
        " or souverain-system)",
    )
    report.set_defaults(handler=_report)

    planning = commands.add_parser(
        "plan",
        help="what applying a profile or SovereignNamespace would break (changes nothing)",
        epilog=f"{EXIT_CODES}.",
    )
    planning.add_argument("-f", "--file", required=True, help="YAML file, or - for stdin")
    planning.add_argument("--format", choices=("text", "json"), default="text")
    planning.set_defaults(handler=_plan)

    crds = commands.add_parser("crds", help="write the CustomResourceDefinitions from the models")
    crds.add_argument("--output", default="crds", help="folder to write them to")
    crds.add_argument(
        "--chart-output",
        default="",
        metavar="FOLDER",
        help="also write them as Helm chart templates into FOLDER",
    )
    crds.set_defaults(handler=_crds)

    add_dev_cluster_parser(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``souverain`` script."""
    args = parser().parse_args(argv)
    code: int = args.handler(args)
    return code

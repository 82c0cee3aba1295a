"""How long souverain takes to converge after each event of the chaos suite.

On a fresh local control plane of its own, with one operator, each round runs every
rehearsal of ``tests/support/rehearsals.py`` (the same ones the chaos tests run, with
the same assertions) and prints the seconds from the end of the event to convergence:

- API server restart, etcd restart: until a SovereignNamespace created right after it is
  Ready, a NetworkPolicy deleted right after it is put back, and every informer has
  listed again;
- operator killed mid-reconcile / mid-deletion: from starting it again (its start-up
  included) until the namespace is Ready (with one of each child) / gone (no finalizer
  left);
- operator down during an API server restart: from the API server being ready until the
  native policies refuse escapes in a bound namespace;
- webhook configurations deleted: until the operator has put both back;
- profile deleted in use: until both statuses say why it stays;
- silent API server (frozen past the watch timeouts): from its resumption until a new
  SovereignNamespace is Ready.

Then the scope through restarts (``tests/support/scope.py``, as the scope tests run it):
the API server restarts ``--scope-restarts`` times with the operator stopped, as many
with it running, and as many with etcd restarting right after it. For 40 s after each,
once a second, ordinary pods are dry-run in kube-system and in an unbound namespace
(refusals by souverain: must be 0) and in the bound namespace, whose longest refusal of
ordinary pods is printed (escapes are refused throughout).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import rehearsals  # noqa: E402
from tests.support.chaos import STEADY, WATCH_SECONDS, Rehearsal  # noqa: E402
from tests.support.scope import (  # noqa: E402
    Watch,
    grant_platform_admin,
    rehearse_restart_scope,
    unbound_namespace,
)

EVENTS: list[tuple[str, Callable[[Rehearsal], float]]] = [
    ("API server restart", rehearsals.rehearse_api_server_restart),
    ("etcd restart", rehearsals.rehearse_etcd_restart),
    ("operator killed mid-reconcile", rehearsals.rehearse_operator_killed_mid_reconcile),
    ("operator killed mid-deletion", rehearsals.rehearse_operator_killed_mid_deletion),
    (
        "operator down, API server restart",
        rehearsals.rehearse_operator_down_during_api_server_restart,
    ),
    ("webhook configurations deleted", rehearsals.rehearse_webhook_configurations_deleted),
    ("profile deleted in use", rehearsals.rehearse_profile_deleted_while_in_use),
    (
        "silent API server",
        lambda r: rehearsals.rehearse_silent_api_server(r, WATCH_SECONDS),
    ),
]


def scope(rehearsal: Rehearsal, restarts: int) -> list[Watch]:
    """The scope through ``restarts`` API-server restarts of each kind."""
    grant_platform_admin(rehearsal)
    unbound = unbound_namespace(rehearsal)
    watches = []
    rehearsal.operator.stop()
    try:
        for _ in range(restarts):
            watches.append(rehearse_restart_scope(rehearsal, unbound))
            print(watches[-1].summary(), flush=True)
    finally:
        rehearsal.operator.start()
    rehearsal.tenancy.wait(STEADY)
    for etcd_too in (False, True):
        for _ in range(restarts):
            watches.append(rehearse_restart_scope(rehearsal, unbound, etcd_too=etcd_too))
            print(watches[-1].summary(), flush=True)
            if not rehearsal.operator.alive():
                raise SystemExit(f"the operator stopped:\n{rehearsal.operator.log()[-4000:]}")
    return watches


def scope_report(watches: list[Watch]) -> dict[str, object]:
    """Prints the scope's table; its figures for the JSON line."""
    print()
    print(f"{'restart':<48} {'refused out of scope':<22} bound namespace refused pods for")
    for watch in watches:
        out = f"{len(watch.out_of_scope_refused)} of {watch.out_of_scope}"
        print(f"{watch.event:<48} {out:<22} {watch.pinned_again:.1f} s")
    for watch in watches:
        for attempt in (*watch.out_of_scope_refused, *watch.escapes_accepted, *watch.unpinned):
            print(f"  {watch.event}: {attempt}")
    return {
        "restarts": len(watches),
        "outOfScopeRefusals": sum(len(w.out_of_scope_refused) for w in watches),
        "outOfScopeRequests": sum(w.out_of_scope for w in watches),
        "escapesAccepted": sum(len(w.escapes_accepted) for w in watches),
        "longestInScopeRefusalSeconds": max((w.pinned_again for w in watches), default=0.0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--scope-restarts", type=int, default=2, help="API-server restarts of each kind"
    )
    parser.add_argument("--scope-only", action="store_true", help="only the scope")
    args = parser.parse_args()
    results: dict[str, list[float]] = {name: [] for name, _ in EVENTS}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="souverain-bench-chaos-") as folder:
        rehearsal = Rehearsal(Path(folder))
        try:
            rehearsal.start()
            for _ in range(0 if args.scope_only else args.rounds):
                for name, rehearse in EVENTS:
                    took = rehearse(rehearsal)
                    results[name].append(took)
                    print(f"{name}: converged in {took:.2f} s", flush=True)
            watches = scope(rehearsal, args.scope_restarts)
        finally:
            rehearsal.close()
    figures: dict[str, object] = {"rounds": 0 if args.scope_only else args.rounds}
    if not args.scope_only:
        print()
        print(f"{'event':<36} {'converged (s), each round':<28} median")
        for name, times in results.items():
            each = ", ".join(f"{t:.2f}" for t in times)
            print(f"{name:<36} {each:<28} {statistics.median(times):.2f}")
        figures["convergedSeconds"] = {k: statistics.median(v) for k, v in results.items()}
    figures["scope"] = scope_report(watches)
    figures["benchSeconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

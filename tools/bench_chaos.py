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
from tests.support.chaos import WATCH_SECONDS, Rehearsal  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    results: dict[str, list[float]] = {name: [] for name, _ in EVENTS}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="souverain-bench-chaos-") as folder:
        rehearsal = Rehearsal(Path(folder))
        try:
            rehearsal.start()
            for _ in range(args.rounds):
                for name, rehearse in EVENTS:
                    took = rehearse(rehearsal)
                    results[name].append(took)
                    print(f"{name}: converged in {took:.2f} s", flush=True)
        finally:
            rehearsal.close()
    print()
    print(f"{'event':<36} {'converged (s), each round':<28} median")
    for name, times in results.items():
        each = ", ".join(f"{t:.2f}" for t in times)
        print(f"{name:<36} {each:<28} {statistics.median(times):.2f}")
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "convergedSeconds": {k: statistics.median(v) for k, v in results.items()},
                "benchSeconds": round(time.monotonic() - started, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

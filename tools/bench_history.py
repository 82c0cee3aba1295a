"""The size of one namespace's violation history after 1,000 violations, and what an
append costs once the history is full.

Pure: the history is built by the operator's own chain code, without a cluster, as the
active replica would build it: a genesis, then for each violation a start and an end
(a pod on a node that lost its qualification, each pod named as a Deployment names its
pods). Printed: records kept and dropped, the bytes of the ConfigMap's data (what counts
against the API server's 1 MiB limit), the same with every object and message at their
longest, and the time one observation (verify, diff, append, bound) takes on the full
history.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta

from souverain.history.chain import MAX_RECORDS, MAX_TEXT, History, Violation, append, bounded
from souverain.history.record import anchor, everything, observe

T0 = datetime(2026, 11, 1, tzinfo=UTC)
LIMIT = 1024 * 1024


def violation(index: int, longest: bool) -> Violation:
    if longest:
        return Violation(
            "PodOnUnqualifiedNode", f"Pod/{index:06d}" + "p" * MAX_TEXT, "m" * MAX_TEXT
        )
    pod = f"web-7d9f8c6b5-{index:05x}"
    return Violation(
        "PodOnUnqualifiedNode", f"Pod/{pod}", "runs on node std-us-1, which does not qualify"
    )


def build(violations: int, longest: bool) -> tuple[History, float]:
    """The history of ``violations`` starts and ends, with the records the operator's
    observation appends (appended directly: verifying the whole chain before each of
    thousands of appends only slows the benchmark); then one real observation, timed."""
    history, _ = observe(History(), None, [], everything, T0, "souverain-0", first_in_term=True)
    moment = T0
    for index in range(violations):
        found = violation(index, longest)
        moment += timedelta(minutes=1)
        history = append(
            history, moment, "start", kind=found.kind, object=found.object, message=found.message
        )
        moment += timedelta(minutes=1)
        history = bounded(append(history, moment, "end", kind=found.kind, object=found.object))
    start = time.perf_counter()
    observed, problem = observe(
        history,
        anchor(history, "souverain-system/x"),
        [violation(violations, longest)],
        everything,
        moment + timedelta(minutes=1),
        "souverain-0",
        first_in_term=False,
    )
    seconds = time.perf_counter() - start
    assert problem is None, problem
    assert observed.count == history.count + 1
    return history, seconds


def data_bytes(history: History) -> int:
    return sum(len(key.encode()) + len(value.encode()) for key, value in history.data().items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--violations", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    args = parser.parse_args()
    typical, seconds = build(args.violations, longest=False)
    longest, _ = build(args.violations, longest=True)
    result = {
        "violations": args.violations,
        "records": typical.count,
        "recordsKept": len(typical.lines),
        "recordsDropped": typical.base.dropped,
        "dataBytes": data_bytes(typical),
        "dataBytesLongest": data_bytes(longest),
        "limitBytes": LIMIT,
        "appendMilliseconds": round(seconds * 1000, 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"history after {args.violations} violations (start and end each):"
        f" {result['records']} records, {result['recordsKept']} kept (cap {MAX_RECORDS}),"
        f" {result['recordsDropped']} dropped into the base"
    )
    print(
        f"  ConfigMap data: {result['dataBytes']:,} bytes"
        f" ({100 * result['dataBytes'] / LIMIT:.0f}% of 1 MiB);"
        f" every object and message at their longest: {result['dataBytesLongest']:,} bytes"
        f" ({100 * result['dataBytesLongest'] / LIMIT:.0f}%)"
    )
    print(f"  one observation on the full history: {result['appendMilliseconds']} ms")


if __name__ == "__main__":
    main()

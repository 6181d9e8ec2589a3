"""CPU the Prometheus metrics cost per update, counted exactly: the calls one update of
benchmarks/e2e.py makes (two events written, the entity's and its notification's; one batch of
rule evaluations; one delivery with its attempt and end-to-end timings), timed together.

    .venv/bin/python benchmarks/metrics_cost.py

End-to-end runs with and without the metrics (`benchmarks/e2e.py --without-metrics`) vary by
more than the difference on a noisy machine; this figure, divided by the server's CPU per
update from e2e.py, is the metrics' share."""

from __future__ import annotations

import timeit
from collections import Counter
from datetime import UTC, datetime, timedelta

from meterbell.metrics import (
    ATTEMPT_SECONDS,
    DELIVERY_SECONDS,
    DELIVERY_SUCCEEDED,
    RULES_FAILED,
    RULES_FIRED,
    RULES_NOT_FIRED,
)
from meterbell.store.events import _count_events

ANSWERED = datetime.now(UTC)
EVENT_TIME = ANSWERED - timedelta(milliseconds=3)
CALLS = 200_000
REPEATS = 5


def one_update() -> None:
    _count_events(Counter({"Configuration": 1}))
    _count_events(Counter({"Notification": 1}))
    RULES_FIRED.inc(1)
    RULES_FAILED.inc(0)
    RULES_NOT_FIRED.inc(2)
    DELIVERY_SUCCEEDED.inc()
    ATTEMPT_SECONDS.observe(0.002)
    DELIVERY_SECONDS.observe((ANSWERED - EVENT_TIME).total_seconds())


def main() -> None:
    best = min(timeit.repeat(one_update, number=CALLS, repeat=REPEATS)) / CALLS
    print(f"metrics: {best * 1e6:.1f} µs of CPU per update (best of {REPEATS} x {CALLS:,})")


if __name__ == "__main__":
    main()

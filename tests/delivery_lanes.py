"""What the tests of ordered and rate-limited destinations check of what a receiver got."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from tests.receiver import Received

# The tolerance on a rate limit: no one-second window over the limit plus one.
RATE_TOLERANCE = 1


def busiest_second(requests: Sequence[Received]) -> int:
    """The most requests that arrived within any one second."""
    times = sorted(r.at for r in requests)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def spread_s(requests: Sequence[Received]) -> float:
    """Seconds from the first request to the last."""
    times = [r.at for r in requests]
    return max(times) - min(times)


def amounts_spent(requests: Sequence[Received]) -> list[float]:
    """The commitment's `amountSpent` each request carried, in arrival order."""
    return [r.json["m3terEvent"]["eventData"]["newDto"]["amountSpent"] for r in requests]


def in_order(values: Sequence[float]) -> bool:
    """Whether `values` never go down (a retried request repeats its value)."""
    return all(a <= b for a, b in itertools.pairwise(values))

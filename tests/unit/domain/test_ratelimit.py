"""Counting failures in a sliding window, in bounded memory."""

from __future__ import annotations

import pytest

from meterbell.domain.errors import TooManyRequests
from meterbell.domain.ratelimit import FailedTokenRequests, FailureWindow


def test_a_key_waits_once_it_failed_limit_times_within_the_window() -> None:
    window = FailureWindow(limit=3, window_s=60)
    for now in (0.0, 10.0, 20.0):
        assert window.wait_s("k", now) == 0
        window.record("k", now)
    assert window.wait_s("k", 30.0) == 30.0  # until the first failure leaves the window
    assert window.wait_s("other", 30.0) == 0
    assert window.wait_s("k", 60.0) == 0  # the failure at 0 is out of the window
    window.record("k", 60.0)
    assert window.wait_s("k", 61.0) == 9.0  # failures at 10, 20 and 60


def test_memory_is_bounded_by_forgetting_the_longest_idle_key() -> None:
    window = FailureWindow(limit=1, window_s=60, max_keys=2)
    window.record("first", 0.0)
    window.record("second", 1.0)
    window.record("first", 2.0)  # first is now the most recent
    window.record("third", 3.0)
    assert window.wait_s("second", 4.0) == 0  # forgotten
    assert window.wait_s("first", 4.0) > 0
    assert window.wait_s("third", 4.0) > 0


def test_token_requests_are_refused_with_retry_after() -> None:
    failures = FailedTokenRequests(limit=2, window_s=60)
    failures.record("client", "10.0.0.1", 0.0)
    failures.record("client", "10.0.0.2", 0.5)
    failures.check("other", "10.0.0.1", 1.0)  # neither the client id nor the address is over
    with pytest.raises(TooManyRequests) as refused:
        failures.check("client", "10.0.0.3", 1.0)
    assert refused.value.headers == {"Retry-After": "59"}
    assert refused.value.status == 429

"""Limits on failed attempts: per key, in a sliding window, in bounded memory, per process."""

from __future__ import annotations

import math
from collections import OrderedDict, deque

from meterbell.domain.errors import TooManyRequests

MAX_KEYS = 10_000


class FailureWindow:
    """The failures of each key within the last `window_s`; a key with `limit` of them must
    wait. Keeps at most `max_keys` keys (the one that failed longest ago is forgotten first),
    each with at most `limit` times."""

    def __init__(self, limit: int, window_s: float, max_keys: int = MAX_KEYS) -> None:
        self._limit = limit
        self._window_s = window_s
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def wait_s(self, key: str, now: float) -> float:
        """How long `key` must wait before its next attempt counts (0: it need not)."""
        failures = self._failures.get(key)
        if failures is None:
            return 0.0
        self._forget_old(failures, now)
        if len(failures) < self._limit:
            return 0.0
        return failures[0] + self._window_s - now

    def record(self, key: str, now: float) -> None:
        failures = self._failures.pop(key, None) or deque(maxlen=self._limit)
        self._forget_old(failures, now)
        failures.append(now)
        self._failures[key] = failures
        if len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def _forget_old(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self._window_s:
            failures.popleft()


class FailedAttempts:
    """Failed attempts per key (a client id, an e-mail) and per client address, counted apart
    (so that many keys tried from one address cannot push that address out, and back).
    `what` and `key_name` word the refusal: "Too many failed {what} for this {key_name}…"."""

    def __init__(self, limit: int, window_s: float, *, what: str, key_name: str) -> None:
        self._by_key = FailureWindow(limit, window_s)
        self._by_address = FailureWindow(limit, window_s)
        self._what = what
        self._key_name = key_name

    def check(self, key: str, address: str, now: float) -> None:
        """TooManyRequests (with Retry-After) while either has failed too often."""
        wait_s = max(self._by_key.wait_s(key, now), self._by_address.wait_s(address, now))
        if wait_s > 0:
            retry_after = math.ceil(wait_s)
            raise TooManyRequests(
                f"Too many failed {self._what} for this {self._key_name} or from this address: "
                f"try again in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )

    def record(self, key: str, address: str, now: float) -> None:
        self._by_key.record(key, now)
        self._by_address.record(address, now)


class FailedTokenRequests(FailedAttempts):
    def __init__(self, limit: int, window_s: float) -> None:
        super().__init__(limit, window_s, what="token requests", key_name="client id")


class FailedSignIns(FailedAttempts):
    def __init__(self, limit: int, window_s: float) -> None:
        super().__init__(limit, window_s, what="sign-ins", key_name="e-mail")

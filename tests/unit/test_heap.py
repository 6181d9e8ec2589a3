"""Start-up objects are frozen out of the collector's sight; later garbage is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from meterbell.heap import freeze_startup_objects


class Node:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def frozen() -> Iterator[None]:
    freeze_startup_objects()
    try:
        yield
    finally:
        gc.unfreeze()


def test_startup_objects_are_frozen_and_start_up_garbage_is_collected_first() -> None:
    startup_garbage = weakref.ref(Node())  # a cycle: only the collector frees it
    long_lived = Node()
    try:
        freeze_startup_objects()
        assert startup_garbage() is None
        assert gc.get_freeze_count() > 0
        assert not any(obj is long_lived for obj in gc.get_objects())  # out of its sight
    finally:
        gc.unfreeze()


def test_garbage_made_after_freezing_is_still_collected(frozen: None) -> None:
    later_garbage = weakref.ref(Node())
    gc.collect()
    assert later_garbage() is None

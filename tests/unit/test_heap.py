"""Start-up objects are frozen out of the collector's sight; collection itself stays on."""

from __future__ import annotations

import gc
import weakref

from meterbell.heap import freeze_startup_objects


class Node:
    def __init__(self) -> None:
        self.me = self


def test_startup_objects_are_frozen_after_start_up_garbage_is_collected() -> None:
    startup_garbage = weakref.ref(Node())  # a cycle: only the collector frees it
    long_lived = Node()
    try:
        freeze_startup_objects()
        assert startup_garbage() is None
        assert gc.get_freeze_count() > 0
        assert not any(obj is long_lived for obj in gc.get_objects())  # out of its sight
        assert gc.isenabled()  # objects made later are still collected automatically
    finally:
        gc.unfreeze()

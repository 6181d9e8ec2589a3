"""Retention's batch size adapts to how long a batch held the store's writer."""

from __future__ import annotations

from meterbell.workers.retention import BATCH_TARGET_S, MAX_BATCH_SIZE, BatchSize


def test_a_slow_batch_halves_the_size_down_to_one() -> None:
    batch = BatchSize(100)
    batch.adjust(BATCH_TARGET_S * 2, full=True)
    assert batch.size == 50
    for _ in range(10):
        batch.adjust(BATCH_TARGET_S * 2, full=True)
    assert batch.size == 1


def test_a_fast_full_batch_doubles_the_size_up_to_the_cap() -> None:
    batch = BatchSize(100)
    batch.adjust(BATCH_TARGET_S / 4, full=True)
    assert batch.size == 200
    for _ in range(10):
        batch.adjust(BATCH_TARGET_S / 4, full=True)
    assert batch.size == MAX_BATCH_SIZE


def test_a_batch_that_was_not_full_or_took_about_the_target_keeps_the_size() -> None:
    batch = BatchSize(100)
    batch.adjust(BATCH_TARGET_S / 4, full=False)
    batch.adjust(BATCH_TARGET_S * 0.75, full=True)
    assert batch.size == 100

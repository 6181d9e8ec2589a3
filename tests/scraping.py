"""Reading `/metrics` as Prometheus does: the text format parsed by prometheus_client's own
parser into samples by series (name and labels)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Series = tuple[str, frozenset[tuple[str, str]]]
Samples = dict[Series, float]


def series(name: str, **labels: str) -> Series:
    return name, frozenset(labels.items())


def parsed(text: str) -> Samples:
    """Every sample of an exposition; fails if the text is not in the Prometheus format."""
    return {
        series(sample.name, **sample.labels): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def rise(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a series rose between two scrapes (a series not there yet counts as 0)."""
    key = series(name, **labels)
    return after.get(key, 0.0) - before.get(key, 0.0)

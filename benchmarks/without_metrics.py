"""Run a meterbell command with every Prometheus counter and histogram turned into a no-op:
the baseline `benchmarks/e2e.py --without-metrics` compares the metrics' cost against.

Used as a wrapper: `python benchmarks/without_metrics.py .venv/bin/meterbell serve …`."""

from __future__ import annotations

import runpy
import sys
from typing import Any

from prometheus_client.metrics import Counter, Histogram, MetricWrapperBase


class NoMetric:
    """Takes every call a counter, a histogram or one of their labelled children takes."""

    def labels(self, *_args: Any, **_kwargs: Any) -> NoMetric:
        return self

    def inc(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def observe(self, *_args: Any, **_kwargs: Any) -> None:
        pass


NO_METRIC = NoMetric()


def _labels(metric: MetricWrapperBase, *args: Any, **kwargs: Any) -> Any:
    if isinstance(metric, Counter | Histogram):
        return NO_METRIC
    return _real_labels(metric, *args, **kwargs)


_real_labels = MetricWrapperBase.labels
MetricWrapperBase.labels = _labels  # type: ignore[method-assign]
Counter.inc = NO_METRIC.inc  # type: ignore[assignment,method-assign]
Histogram.observe = NO_METRIC.observe  # type: ignore[assignment,method-assign]

if __name__ == "__main__":
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")

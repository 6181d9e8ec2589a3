"""Prometheus series. Counters and histograms count what this process did (Prometheus sums
them across processes); gauges describe the store, and are read from it when scraped
(services/metrics.py), so every process serves the same values."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
# From a webhook's first try to a receiver's answer: milliseconds to a day of retries.
DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

EVENTS = Counter(
    "meterbell_events",
    "Events written, by category (Configuration, Billing, Notification, IntegrationEvent…).",
    ["category"],
    registry=REGISTRY,
)
RULE_EVALUATIONS = Counter(
    "meterbell_rule_evaluations",
    "Notification rules evaluated on events, by result.",
    ["result"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "meterbell_deliveries",
    "Delivery attempts (HTTP requests to destinations), by outcome: success or failure.",
    ["outcome"],
    registry=REGISTRY,
)
DELIVERY_SECONDS = Histogram(
    "meterbell_delivery_seconds",
    "From an event being written to its successful delivery.",
    buckets=DELIVERY_BUCKETS,
    registry=REGISTRY,
)
SQLITE_LOG_RESTART_SECONDS = Histogram(
    "meterbell_sqlite_log_restart_seconds",
    "Embedded SQLite: how long writers were held back while the write-ahead log restarted.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    registry=REGISTRY,
)
ATTEMPT_SECONDS = Histogram(
    "meterbell_attempt_seconds",
    "One delivery attempt: the request until its answer, or its failure.",
    buckets=ATTEMPT_BUCKETS,
    registry=REGISTRY,
)
INGEST_MEASUREMENTS = Counter(
    "meterbell_ingest_measurements",
    "Measurements validated by the ingest validator, by result: ingested or failed.",
    ["result"],
    registry=REGISTRY,
)
EXPORT_JOBS = Counter(
    "meterbell_export_jobs",
    "Export jobs finished, by status: SUCCEEDED or FAILED.",
    ["status"],
    registry=REGISTRY,
)
RUNS = Gauge(
    "meterbell_runs",
    "Integration runs not finished yet, by status (from the store).",
    ["status"],
    registry=REGISTRY,
)
DISPATCH_LAG = Gauge(
    "meterbell_dispatch_lag_seconds",
    "Age of the oldest event the dispatcher has not handled yet; 0 when none waits.",
    registry=REGISTRY,
)
ALERTS_OPEN = Gauge(
    "meterbell_alerts_open",
    "Open alerts (NEW or IN_PROGRESS) of every organization, by severity (from the store).",
    ["severity"],
    registry=REGISTRY,
)

DELIVERY_SUCCEEDED = DELIVERIES.labels(outcome="success")
DELIVERY_FAILED = DELIVERIES.labels(outcome="failure")
RULES_FIRED = RULE_EVALUATIONS.labels(result="fired")
RULES_NOT_FIRED = RULE_EVALUATIONS.labels(result="not_fired")
RULES_FAILED = RULE_EVALUATIONS.labels(result="error")
MEASUREMENTS_INGESTED = INGEST_MEASUREMENTS.labels(result="ingested")
MEASUREMENTS_FAILED = INGEST_MEASUREMENTS.labels(result="failed")

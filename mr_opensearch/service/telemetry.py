"""The service's Prometheus metrics: requests and errors per mode, latency histograms, the live index.

Each app has its own registry (:func:`prometheus_client.CollectorRegistry`), so two services in one
process (tests) never share counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Telemetry:
    """The metrics one service exports at ``/metrics``."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter("mros_search_requests", "Search requests answered, by mode and HTTP status",
                                ["mode", "status"], registry=self.registry)
        self.errors = Counter("mros_search_errors", "Search requests that failed, by mode and reason",
                              ["mode", "reason"], registry=self.registry)
        self.latency = Histogram("mros_search_latency_seconds", "Wall time of a search request (query embedding "
                                 "and fusion included), by mode", ["mode"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.rejected = Counter("mros_search_overload_rejections", "Requests answered 503 because the service was "
                                "at its concurrency bound", registry=self.registry)
        self.in_flight = Gauge("mros_search_in_flight", "Search requests being answered now", registry=self.registry)
        self.live = Gauge("mros_live_index_info", "The index the alias pointed at in the last answer, and its model",
                          ["alias", "index", "model_sha256"], registry=self.registry)
        self._live_labels: tuple[str, str, str] | None = None

    def answered(self, mode: str, status: int, seconds: float) -> None:
        self.requests.labels(mode=mode, status=str(status)).inc()
        self.latency.labels(mode=mode).observe(seconds)

    def failed(self, mode: str, reason: str) -> None:
        self.errors.labels(mode=mode, reason=reason).inc()

    def serving(self, alias: str, index: str, model_sha256: str) -> None:
        """Record the live index (the previous one's series is removed, so one series is 1)."""
        labels = (alias, index, model_sha256)
        if labels == self._live_labels:
            return
        if self._live_labels is not None:
            self.live.remove(*self._live_labels)
        self.live.labels(*labels).set(1)
        self._live_labels = labels

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

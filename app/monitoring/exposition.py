"""The figures read at each scrape, as Prometheus metric families, and the whole answer of
``/metrics`` in the text exposition format."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.monitoring import requests
from app.monitoring.models import WorkerHeartbeat

STATUS_FIGURES = {
    "codec_runs": "Codec runs by status (queued and running are in progress).",
    "codec_results": "Per-image codec results by status.",
    "studies": "Studies by status (proposing is in progress).",
}


@dataclass(frozen=True)
class Scrape:
    """What one scrape read: rows per status, the workers' heartbeats and the queues
    (``None``: the broker did not answer)."""

    counts: Mapping[str, Mapping[str, int]]
    heartbeats: Sequence[WorkerHeartbeat]
    queue_depths: Mapping[str, int] | None


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def families(scrape: Scrape) -> Iterator[Metric]:
    broker_up = GaugeMetricFamily(
        "miscomp_broker_up", "1 if the Celery broker answered this scrape, else 0."
    )
    broker_up.add_metric([], 0 if scrape.queue_depths is None else 1)
    yield broker_up
    if scrape.queue_depths is not None:
        queued = GaugeMetricFamily(
            "miscomp_queue_messages",
            "Messages waiting in each Celery queue (not those a worker holds).",
            labels=["queue"],
        )
        for queue, depth in sorted(scrape.queue_depths.items()):
            queued.add_metric([queue], depth)
        yield queued
    for name, documentation in STATUS_FIGURES.items():
        family = GaugeMetricFamily(f"miscomp_{name}", documentation, labels=["status"])
        for status, count in sorted(scrape.counts.get(name, {}).items()):
            family.add_metric([status], count)
        yield family
    last_seen = GaugeMetricFamily(
        "miscomp_worker_last_seen_timestamp_seconds",
        "When each Celery worker last wrote its heartbeat (Unix time; workers silent for a day "
        "are left out).",
        labels=["worker", "queues"],
    )
    started = GaugeMetricFamily(
        "miscomp_worker_started_timestamp_seconds",
        "When each Celery worker started (Unix time).",
        labels=["worker", "queues"],
    )
    for beat in scrape.heartbeats:
        last_seen.add_metric([beat.hostname, beat.queues], beat.last_seen_at.timestamp())
        started.add_metric([beat.hostname, beat.queues], beat.started_at.timestamp())
    yield last_seen
    yield started


def render(scrape: Scrape) -> bytes:
    """This process's request figures followed by the figures of the scrape."""
    read_now = CollectorRegistry(auto_describe=False)
    read_now.register(_Families(families(scrape)))
    return generate_latest(requests.REGISTRY) + generate_latest(read_now)

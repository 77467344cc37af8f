"""Prometheus metrics of ``GET /metrics``.

Two sources: what this process ran (counters and a histogram, updated as its runs finish), and
what the shared slot ledger says (read at each scrape, so every replica reports the same):

==========================================  =========================================
``lethe_job_runs_total{job,status}``        runs this process finished
``lethe_items_total{dataset,action}``       items its runs acted on
``lethe_job_run_duration_seconds{job}``     how long its runs took
``lethe_job_slots{job,status}``             ledger slots by status (all replicas)
``lethe_job_missed_slots_total{job}``       slots never run: down past the catch-up window
``lethe_job_last_success_timestamp_seconds``  when each job last succeeded
``lethe_job_healthy{job}``                  1, or 0 when no success inside ``alert_after``
``lethe_overdue_items{policy,dataset}``     items due and unheld past the tolerance
                                            (``lethe attest``; recounted at most every minute)
==========================================  =========================================
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lethe.http.overdue import OverdueReading
from lethe.jobs.runner import JobRun, JobService
from lethe.jobs.status import job_statuses
from lethe.schedule.decide import SlotStatus

__all__ = ["Metrics"]

_BUCKETS = (0.5, 1, 5, 15, 60, 300, 900, 3600, float("inf"))


class _Ledger(Collector):
    def __init__(self, service: JobService, overdue: OverdueReading) -> None:
        self.service = service
        self.overdue = overdue

    def collect(self) -> Iterator[Metric]:
        service = self.service
        slots = GaugeMetricFamily(
            "lethe_job_slots",
            "Slots in the ledger by status (all replicas).",
            labels=["job", "status"],
        )
        for (job, state), count in sorted(service.ledger.totals().items()):
            slots.add_metric([job, state], count)
        missed = CounterMetricFamily(
            "lethe_job_missed_slots", "Slots never run (down past catch_up).", labels=["job"]
        )
        last = GaugeMetricFamily(
            "lethe_job_last_success_timestamp_seconds",
            "When the job last finished a run successfully.",
            labels=["job"],
        )
        healthy = GaugeMetricFamily(
            "lethe_job_healthy", "1 when the job succeeded inside alert_after.", labels=["job"]
        )
        for status in job_statuses(service.config.jobs, service.ledger, service.clock.now()):
            name = status.job.name
            missed.add_metric([name], status.counts.get(SlotStatus.MISSED.value, 0))
            if status.last_success is not None:
                last.add_metric([name], status.last_success.timestamp())
            healthy.add_metric([name], 1.0 if status.healthy else 0.0)
        yield from (slots, missed, last, healthy)
        counts = self.overdue.counts()
        if counts is not None:
            overdue = GaugeMetricFamily(
                "lethe_overdue_items",
                "Items due and not held for longer than the tolerance (lethe attest).",
                labels=["policy", "dataset"],
            )
            for (policy, dataset), count in sorted(counts.items()):
                overdue.add_metric([policy, dataset], count)
            yield overdue


class Metrics:
    """A registry of lethe's metrics; :meth:`observe` is a job-service observer."""

    def __init__(self, service: JobService) -> None:
        self.registry = CollectorRegistry()
        self.overdue = OverdueReading(service)
        self.runs = Counter(
            "lethe_job_runs",
            "Job runs finished by this process.",
            ["job", "status"],
            registry=self.registry,
        )
        self.items = Counter(
            "lethe_items",
            "Items acted on by this process's runs.",
            ["dataset", "action"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "lethe_job_run_duration_seconds",
            "Duration of this process's job runs.",
            ["job"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Ledger(service, self.overdue))

    def observe(self, run: JobRun) -> None:
        """Count a finished run."""
        self.runs.labels(run.job, run.status.value).inc()
        self.duration.labels(run.job).observe(run.seconds)
        for phase in run.result.phases if run.result else ():
            self.items.labels(phase.dataset, phase.action).inc(phase.acted)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)

"""MetricsSum: processes' metric snapshots added up, and written in Prometheus text format.

Counters and histograms of the same name and labels are summed across processes; a gauge
keeps one sample per process, told apart by a ``worker`` label. The text is written by
prometheus_client (its metric families and ``generate_latest``), never by hand. A snapshot
comes from another process: a family that does not match what is already summed under its
name (another type, labels or buckets: e.g. code changed by a reload) is left out and
logged, never an error. The one process (workers=0) writes its own figures the same way
(``one_process_exposition``); MetricsUnavailable is a scrape that cannot be answered now.
It sits in the base layer so that http (the /metrics route) and server (the master's sums)
both use it.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from framework.errors import FrameworkError
from framework.metrics import COUNTER, GAUGE, HISTOGRAM, WORKER_LABEL, Key, Metrics, Snapshot
from framework.ratelimit import RateLimitedLog

__all__ = ["CONTENT_TYPE", "MASTER", "MetricsSum", "MetricsUnavailable", "bucket_label",
           "one_process_exposition", "workers_gauge"]

logger = logging.getLogger("framework.metrics")
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what every Prometheus server reads
_skipped = RateLimitedLog(logger, 60.0)
MASTER = "master"  # the worker label of the master's (and the one process's) gauges
bucket_label: Callable[[float], str] = floatToGoString  # "0.005", "1.0", "+Inf": as Prometheus


@dataclass
class _Family:
    kind: str
    documentation: str
    labels: Key
    buckets: tuple[float, ...] | None
    samples: dict[Key, Any] = field(default_factory=dict)  # float, or [counts..., sum]


class MetricsSum:
    """``add(snapshot, process)`` for each process, then ``exposition()``."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def copy(self) -> MetricsSum:
        summed = MetricsSum()
        summed._families = copy.deepcopy(self._families)
        return summed

    def add(self, snapshot: Snapshot, process: str | None, gauges: bool = True) -> None:
        """Add a process's snapshot; its gauges labelled ``worker=process`` (unlabelled when
        ``process`` is None), or left out when ``gauges`` is False."""
        for name, entry in snapshot.items():
            try:
                self._add_family(name, entry, process, gauges)
            except (KeyError, TypeError, ValueError, IndexError) as error:
                _skipped.warning(f"malformed:{name}", "metric %r of %s left out: malformed "
                                 "(%s: %s)", name, process, type(error).__name__, error)

    def _add_family(self, name: str, entry: dict[str, Any], process: str | None,
                    gauges: bool) -> None:
        kind = entry["type"]
        if kind == GAUGE and not gauges:
            return
        labels = tuple(str(label) for label in entry["labels"])
        if kind == GAUGE and process is not None:
            labels = (*labels, WORKER_LABEL)
        buckets = tuple(float(b) for b in entry["buckets"]) if kind == HISTOGRAM else None
        family = self._families.get(name)
        if family is None:
            if kind not in (COUNTER, GAUGE, HISTOGRAM):
                raise ValueError(f"unknown type {kind!r}")
            family = self._families[name] = _Family(kind, str(entry["help"]), labels, buckets)
        elif (family.kind, family.labels, family.buckets) != (kind, labels, buckets):
            _skipped.warning(f"mismatch:{name}", "metric %r of %s left out: it is a %s with "
                             "labels %s here, but a %s with labels %s elsewhere", name,
                             process, kind, list(labels), family.kind, list(family.labels))
            return
        samples = family.samples
        for sample in entry["samples"]:
            key = tuple(str(value) for value in sample[0])
            if len(key) + (kind == GAUGE and process is not None) != len(labels):
                raise ValueError(f"a sample with {len(key)} label values")
            if kind == HISTOGRAM:
                counts = [float(count) for count in sample[1]]
                if buckets is None or len(counts) != len(buckets) + 1:
                    raise ValueError(f"{len(counts)} bucket counts")
                cell = samples.setdefault(key, [0.0] * (len(counts) + 1))
                for index, count in enumerate(counts):
                    cell[index] += count
                cell[-1] += float(sample[2])
            elif kind == GAUGE:
                samples[key if process is None else (*key, process)] = _number(sample[1])
            else:
                samples[key] = samples.get(key, 0.0) + float(sample[1])

    def families(self) -> Iterator[Metric]:
        """prometheus_client's metric families of the sums, by name."""
        for name in sorted(self._families):
            family = self._families[name]
            metric: CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily
            if family.kind == HISTOGRAM:
                metric = HistogramMetricFamily(name, family.documentation, labels=family.labels)
                bounds = [*(family.buckets or ()), math.inf]
                for key, cell in family.samples.items():
                    cumulative, total = [], 0.0
                    for bound, count in zip(bounds, cell[:-1], strict=True):
                        total += count
                        cumulative.append((bucket_label(bound), total))
                    metric.add_metric(list(key), cumulative, cell[-1])
            else:
                kind = CounterMetricFamily if family.kind == COUNTER else GaugeMetricFamily
                metric = kind(name, family.documentation, labels=family.labels)
                for key, value in family.samples.items():
                    metric.add_metric(list(key), value)
            yield metric

    def exposition(self) -> bytes:
        """The Prometheus text format (CONTENT_TYPE) of every family."""
        return generate_latest(_Families(self))


class _Families(Collector):
    """What generate_latest reads: the families of one MetricsSum."""

    def __init__(self, summed: MetricsSum) -> None:
        self._summed = summed

    def collect(self) -> Iterator[Metric]:
        return self._summed.families()


def _number(value: Any) -> float:
    """A gauge's value; JSON has no NaN or infinity (orjson writes them as null)."""
    return math.nan if value is None else float(value)


class MetricsUnavailable(FrameworkError):
    """The figures of the whole server could not be gathered now (503 to the scraper)."""


def workers_gauge(serving: int) -> Snapshot:
    """``fw_workers``: how many workers serve, as a snapshot to add to a sum."""
    return {"fw_workers": {"type": GAUGE, "help": "Worker processes serving",
                           "labels": [], "samples": [[[], serving]]}}


def one_process_exposition(metrics: Metrics) -> bytes:
    """/metrics of the one process (workers=0): its own figures."""
    summed = MetricsSum()
    summed.add(metrics.snapshot(), MASTER)
    summed.add(workers_gauge(0), None)
    return summed.exposition()

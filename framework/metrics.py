"""Metrics: this process's counters, gauges and histograms, for the whole server's /metrics.

The instruments are light (an increment is a dict update); they become Prometheus samples
only when scraped. Each process hands its ``snapshot()``, plain JSON, to the master, which
sums every process's (server/master/metrics_sum.py) and writes the text format with
prometheus_client. A snapshot maps each family name to an entry::

    {"type": "counter" | "gauge", "help": str, "labels": [names],
     "samples": [[[label values], value], ...]}
    {"type": "histogram", "help": str, "labels": [names], "buckets": [upper bounds],
     "samples": [[[label values], [count per bucket, the last one +Inf], sum], ...]}

A counter's family name has no ``_total`` (the exposition adds it).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from prometheus_client import Histogram as PrometheusHistogram
from prometheus_client.validation import METRIC_LABEL_NAME_RE, METRIC_NAME_RE

Key = tuple[str, ...]
Entry = dict[str, Any]
Snapshot = dict[str, Entry]
COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
# prometheus_client's default buckets (seconds), +Inf implied
DEFAULT_BUCKETS: tuple[float, ...] = tuple(
    float(bound) for bound in PrometheusHistogram.DEFAULT_BUCKETS if float(bound) != math.inf)
WORKER_LABEL = "worker"  # the master adds it to every gauge: which process set it


def counter_entry(documentation: str, labels: Sequence[str],
                  samples: Mapping[Key, float], kind: str = COUNTER) -> Entry:
    """A counter's (or, with ``kind``, a gauge's) snapshot entry."""
    return {"type": kind, "help": documentation, "labels": list(labels),
            "samples": [[list(key), value] for key, value in samples.items()]}


def histogram_entry(documentation: str, labels: Sequence[str], buckets: Sequence[float],
                    cells: Mapping[Key, list[float]]) -> Entry:
    """A histogram's snapshot entry from its cells: a count per bucket, then the sum."""
    return {"type": HISTOGRAM, "help": documentation, "labels": list(labels),
            "buckets": list(buckets),
            "samples": [[list(key), cell[:-1], cell[-1]] for key, cell in cells.items()]}


def family_name(name: str, kind: str) -> str:
    """The family ``name`` stands for: a counter's without its ``_total``."""
    return name[:-6] if kind == COUNTER and name.endswith("_total") else name


class Instrument:
    """A family of samples, one per combination of label values."""

    kind: ClassVar[str]
    reserved_labels: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        if not METRIC_NAME_RE.match(name) or name.startswith("__"):
            raise ValueError(f"{name!r} is not a Prometheus metric name: letters, digits, _ "
                             "and :, not starting with a digit")
        for label in labels:
            if not METRIC_LABEL_NAME_RE.match(label) or label.startswith("__") \
                    or label in self.reserved_labels:
                raise ValueError(f"{label!r} cannot be a label of {self.kind} {name!r}: "
                                 "letters, digits and _, not starting with __"
                                 + (f", none of {sorted(self.reserved_labels)}"
                                    if self.reserved_labels else ""))
        if len(set(labels)) != len(labels):
            raise ValueError(f"{self.kind} {name!r} names a label twice: {list(labels)}")
        self.name = family_name(name, self.kind)
        self.documentation = documentation
        self.labelnames: Key = tuple(labels)

    def key(self, values: Sequence[object], named: Mapping[str, object]) -> Key:
        """The label values, in the order of ``labelnames``, as text."""
        if named:
            if values:
                raise ValueError(f"{self.name}: give label values by position or by name, "
                                 "not both")
            if set(named) != set(self.labelnames):
                raise ValueError(f"{self.name} has labels {list(self.labelnames)}, "
                                 f"got {sorted(named)}")
            return tuple(str(named[label]) for label in self.labelnames)
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} has labels {list(self.labelnames)}: "
                             f"{len(values)} values given")
        return tuple(str(value) for value in values)

    def unlabelled(self) -> Key:
        if self.labelnames:
            raise ValueError(f"{self.name} has labels {list(self.labelnames)}: "
                             "use .labels(...) first")
        return ()

    def entry(self) -> Entry:
        raise NotImplementedError


class Counter(Instrument):
    """Only goes up: ``inc()``, or ``labels(...).inc()`` when it has labels."""

    kind = COUNTER

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, labels)
        self._values: dict[Key, float] = {} if labels else {(): 0.0}  # shown from the start

    def labels(self, *values: object, **named: object) -> CounterChild:
        return CounterChild(self._values, self.key(values, named))

    def inc(self, amount: float = 1.0) -> None:
        CounterChild(self._values, self.unlabelled()).inc(amount)

    def entry(self) -> Entry:
        return counter_entry(self.documentation, self.labelnames, self._values)


class CounterChild:
    """One sample of a Counter."""

    __slots__ = ("_values", "_key")

    def __init__(self, values: dict[Key, float], key: Key) -> None:
        self._values, self._key = values, key
        values.setdefault(key, 0.0)

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"a counter only goes up: inc({amount!r})")
        self._values[self._key] += amount


class Gauge(Instrument):
    """Goes up and down: ``set``, ``inc``, ``dec`` (on ``labels(...)`` when it has labels),
    or ``set_function(f)``: f() is read at each scrape. The master labels each process's
    value with ``worker`` (its worker id, or "master"), so ``worker`` is not a label of yours.
    """

    kind = GAUGE
    reserved_labels = frozenset({WORKER_LABEL})

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, labels)
        self._values: dict[Key, float] = {} if labels else {(): 0.0}
        self._function: Callable[[], float] | None = None

    def labels(self, *values: object, **named: object) -> GaugeChild:
        return GaugeChild(self._values, self.key(values, named))

    def set(self, value: float) -> None:
        GaugeChild(self._values, self.unlabelled()).set(value)

    def inc(self, amount: float = 1.0) -> None:
        GaugeChild(self._values, self.unlabelled()).inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        GaugeChild(self._values, self.unlabelled()).inc(-amount)

    def set_function(self, function: Callable[[], float]) -> None:
        """Read the value from ``function()`` at each scrape (a gauge without labels)."""
        self.unlabelled()
        self._function = function

    def entry(self) -> Entry:
        values = self._values
        if self._function is not None:
            values = {(): float(self._function())}
        return counter_entry(self.documentation, self.labelnames, values, GAUGE)


class GaugeChild:
    """One sample of a Gauge."""

    __slots__ = ("_values", "_key")

    def __init__(self, values: dict[Key, float], key: Key) -> None:
        self._values, self._key = values, key
        values.setdefault(key, 0.0)

    def set(self, value: float) -> None:
        self._values[self._key] = float(value)

    def inc(self, amount: float = 1.0) -> None:
        self._values[self._key] += amount

    def dec(self, amount: float = 1.0) -> None:
        self._values[self._key] -= amount


class Histogram(Instrument):
    """Counts observations in buckets (upper bounds, +Inf implied) and sums them:
    ``observe(v)``, or ``labels(...).observe(v)`` when it has labels."""

    kind = HISTOGRAM
    reserved_labels = frozenset({"le"})

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = (),
                 buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        super().__init__(name, documentation, labels)
        bounds = upper_bounds(buckets)
        if not bounds or list(bounds) != sorted(set(bounds)):
            raise ValueError(f"histogram {name!r}: buckets must be increasing numbers, "
                             f"got {list(buckets)}")
        self.buckets = bounds
        self._cells: dict[Key, list[float]] = {}
        if not labels:
            HistogramChild(bounds, self._cells, ())

    def labels(self, *values: object, **named: object) -> HistogramChild:
        return HistogramChild(self.buckets, self._cells, self.key(values, named))

    def observe(self, value: float) -> None:
        HistogramChild(self.buckets, self._cells, self.unlabelled()).observe(value)

    def entry(self) -> Entry:
        return histogram_entry(self.documentation, self.labelnames, self.buckets, self._cells)


def upper_bounds(buckets: Sequence[float]) -> tuple[float, ...]:
    """A histogram's bucket bounds as it keeps them: floats, without +Inf (always implied)."""
    return tuple(float(bound) for bound in buckets if float(bound) != math.inf)


class HistogramChild:
    """One labelled series of a Histogram."""

    __slots__ = ("_bounds", "_cell")

    def __init__(self, bounds: tuple[float, ...], cells: dict[Key, list[float]],
                 key: Key) -> None:
        self._bounds = bounds
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [0.0] * (len(bounds) + 2)
        self._cell = cell

    def observe(self, value: float) -> None:
        cell = self._cell
        cell[bisect_left(self._bounds, value)] += 1
        cell[-1] += value


AnyInstrument = TypeVar("AnyInstrument", bound=Instrument)


class Metrics:
    """This process's registry, injectable (one per process): declare instruments, then use
    them; the server's /metrics adds every process's up.

    Declaring a name again returns the same instrument, so a service may declare what it
    uses in its constructor; the same name with another type or labels is a ValueError.
    """

    def __init__(self) -> None:
        self._instruments: dict[str, Instrument] = {}
        self._sources: list[Callable[[], Snapshot]] = []

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return self._declare(Counter, name, labels, None,
                             lambda: Counter(name, documentation, labels))

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return self._declare(Gauge, name, labels, None,
                             lambda: Gauge(name, documentation, labels))

    def histogram(self, name: str, documentation: str, labels: Sequence[str] = (),
                  buckets: Sequence[float] = DEFAULT_BUCKETS) -> Histogram:
        return self._declare(Histogram, name, labels, upper_bounds(buckets),
                             lambda: Histogram(name, documentation, labels, buckets))

    def add_source(self, source: Callable[[], Snapshot]) -> None:
        """Families kept elsewhere (fw's HTTP figures), turned into entries at each snapshot."""
        self._sources.append(source)

    def snapshot(self) -> Snapshot:
        """Every family's samples now, as plain JSON (see the module's docstring)."""
        snapshot = {name: instrument.entry() for name, instrument in self._instruments.items()}
        for source in self._sources:
            snapshot.update(source())
        return snapshot

    def _declare(self, kind: type[AnyInstrument], name: str, labels: Sequence[str],
                 buckets: tuple[float, ...] | None,
                 make: Callable[[], AnyInstrument]) -> AnyInstrument:
        """The instrument ``name``: the one declared before (found without building a new
        one: a controller built per request may declare in its constructor), or a new one."""
        known = self._instruments.get(family_name(name, kind.kind))
        if known is None:
            instrument = make()
            self._instruments[instrument.name] = instrument
            return instrument
        if isinstance(known, kind) and known.labelnames == tuple(labels) and (
                not isinstance(known, Histogram) or known.buckets == buckets):
            return known
        raise ValueError(f"metric {known.name!r} is already a {known.kind} with labels "
                         f"{list(known.labelnames)}"
                         + (f" and buckets {list(known.buckets)}"
                            if isinstance(known, Histogram) else ""))

"""The HTTP figures of one serving process, and the route that answers /metrics.

A request costs one dict lookup, a bisect and two additions (``observe``): its cell, keyed
by method, route handler and status, holds the duration histogram's bucket counts and sum,
and the request count is their total. The handler becomes its route template (never the
raw path) only when a snapshot is taken, so ``fw_http_requests_total`` and
``fw_http_request_duration_seconds_count`` are the same figures, always.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator, Mapping

import psutil
from aiohttp import hdrs, web

from framework.errors import DeclarationError
from framework.http.handlers import Handler
from framework.http.responses import error_response
from framework.http.router import Router
from framework.metrics import (
    DEFAULT_BUCKETS,
    Key,
    Metrics,
    Snapshot,
    counter_entry,
    histogram_entry,
)
from framework.metrics_sum import CONTENT_TYPE, MetricsUnavailable, one_process_exposition

__all__ = ["BOUNDS", "METHODS", "UNMATCHED", "HttpMetrics"]

# A method outside these is counted as OTHER: label values a client chooses stay few.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT",
                     "TRACE"})
UNMATCHED = "<unmatched>"  # the route label of a request no route serves (404, 405)
BOUNDS = DEFAULT_BUCKETS


class HttpMetrics:
    """fw_http_requests_total, fw_http_request_duration_seconds, fw_http_requests_in_flight
    and fw_worker_resident_memory_bytes of one HttpServer, in its process's Metrics."""

    def __init__(self, metrics: Metrics, templates: Callable[[], Mapping[Handler, str]],
                 in_flight: Callable[[], int]) -> None:
        self._templates = templates
        # method -> handler -> status -> cell: no key to build per request
        self._cells: dict[str, dict[Handler, dict[int, list[float]]]] = {}
        self._width = len(BOUNDS) + 2  # a count per bucket (+Inf last), then the sum
        metrics.add_source(self.entries)
        metrics.gauge("fw_http_requests_in_flight",
                      "Requests this process is answering now").set_function(in_flight)
        process = psutil.Process()
        metrics.gauge("fw_worker_resident_memory_bytes",
                      "Resident memory of the process (RSS), in bytes").set_function(
            lambda: process.memory_info().rss)

    def observe(self, method: str, handler: Handler, status: int, seconds: float) -> None:
        """Count one answered request: the hot path, so three dict lookups and two additions."""
        try:
            cell = self._cells[method][handler][status]
        except KeyError:
            cell = self._new_cell(method, handler, status)
        cell[bisect_left(BOUNDS, seconds)] += 1
        cell[-1] += seconds

    def _new_cell(self, method: str, handler: Handler, status: int) -> list[float]:
        if method not in METHODS:
            method = "OTHER"
        by_status = self._cells.setdefault(method, {}).setdefault(handler, {})
        return by_status.setdefault(status, [0.0] * self._width)

    def entries(self) -> Snapshot:
        """The two families, by route template."""
        templates = self._templates()
        requests: dict[Key, float] = {}
        durations: dict[Key, list[float]] = {}
        for method, handler, status, cell in self._every_cell():
            route = templates.get(handler, UNMATCHED)
            key = (method, route, str(status))
            requests[key] = requests.get(key, 0.0) + sum(cell[:-1])
            summed = durations.setdefault((method, route), [0.0] * self._width)
            for index, value in enumerate(cell):
                summed[index] += value
        return {
            "fw_http_requests": counter_entry(
                "HTTP requests answered, by method, route template and status",
                ("method", "route", "status"), requests),
            "fw_http_request_duration_seconds": histogram_entry(
                "Time to answer an HTTP request (handler and middlewares), in seconds",
                ("method", "route"), BOUNDS, durations),
        }

    def _every_cell(self) -> Iterator[tuple[str, Handler, int, list[float]]]:
        for method, by_handler in self._cells.items():
            for handler, by_status in by_handler.items():
                for status, cell in by_status.items():
                    yield method, handler, status, cell

    def add_route(self, router: Router, path: str, metrics: Metrics,
                  scrape: Callable[[], Awaitable[bytes]] | None) -> None:
        """GET ``path``: the text ``scrape()`` gathers (the whole server's), or this process's
        own without one (workers=0); a JSON 503 when they cannot be had. The app's own
        route there, if any, keeps the path. The app's middlewares apply: one may guard it."""
        async def answer_metrics(request: web.Request) -> web.StreamResponse:
            try:
                body = await scrape() if scrape is not None else one_process_exposition(metrics)
            except MetricsUnavailable as error:
                return error_response(503, str(error))
            return web.Response(body=body, headers={hdrs.CONTENT_TYPE: CONTENT_TYPE})
        try:
            router.add_route(hdrs.METH_GET, path, answer_metrics)
        except DeclarationError:
            return

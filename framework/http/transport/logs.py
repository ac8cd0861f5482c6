"""The server's log: lines of text, or one JSON object per line (log_format "json").

Configured once from FrameworkConfig (log_level, log_format) in the process that serves; a
master's workers are forked with it. An app that configured logging itself keeps its own.
Access lines carry their fields (method, path, route, status, duration_ms, bytes) as a
record attribute, so a JSON line holds them and a text line reads as aiohttp's always did.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from framework.config import FrameworkConfig
from framework.http.router import route_template
from framework.process import process_info

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# the text access line, as aiohttp's '%a "%r" %s %b %Tfs' writes it
ACCESS_LINE = '%s "%s %s HTTP/%d.%d" %d %d %06fs'


def configure_logging(config: FrameworkConfig) -> None:
    """One stderr handler at ``config.log_level``, writing text or JSON lines, unless the
    root logger has handlers already (the app configured logging itself)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    root.addHandler(handler)
    root.setLevel(config.log_level.upper())
    if config.log_format == "json":
        handler.setFormatter(JsonFormatter())
        logging.captureWarnings(True)  # a Python warning is a JSON line too, not raw text
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line: ts, level, logger, message, pid, worker_id,
    an access line's fields, and a traceback as the ``exc`` string (never more lines)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            "worker_id": process_info().worker_id,
        }
        access = getattr(record, "access", None)
        if access is not None:
            entry.update(access)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class AccessLog(AbstractAccessLogger):
    """One INFO line per answered request, on aiohttp's public access-logger seam; skipped
    altogether when INFO is off (log_level warning or error)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse,
            time: float) -> None:
        version = request.version
        fields = {"method": request.method, "path": request.path,
                  "route": route_template(request), "status": response.status,
                  "duration_ms": round(time * 1000, 3), "bytes": response.body_length,
                  "remote": request.remote}
        self.logger.info(ACCESS_LINE, request.remote or "-", request.method, request.path_qs,
                         version.major, version.minor, response.status,
                         response.body_length, time, extra={"access": fields})

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

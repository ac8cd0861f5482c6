"""Values crossing the broker: encoded once with orjson at the call, so bad values fail early."""

from __future__ import annotations

from typing import Any

import orjson

from framework.config import FrameworkConfig

MB = 1024 * 1024


def max_value_bytes(config: FrameworkConfig | None = None) -> int:
    """The most bytes one encoded value may take: ``broker_max_value_mb`` (its default
    without a config)."""
    mb = FrameworkConfig.broker_max_value_mb if config is None else config.broker_max_value_mb
    return int(mb * MB)


def encode(value: object, what: str = "value", max_bytes: int | None = None) -> str:
    """JSON text for ``value`` (dataclasses and datetimes included); TypeError otherwise.

    ``what`` names the argument in the error, e.g. ``"cache value for 'session:1'"``.
    ValueError when the text is over ``max_bytes``.
    """
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError as error:
        raise TypeError(
            f"{what} is not JSON-serialisable ({type(value).__name__}): {error}; "
            "the broker accepts dicts, lists, str, int, float, bool, None, "
            "dataclasses and datetimes") from None
    if max_bytes is not None and len(encoded) > max_bytes:
        raise ValueError(
            f"{what} is {len(encoded)} bytes as JSON, over the broker's limit of {max_bytes} "
            f"bytes (broker_max_value_mb={max_bytes / MB:g}); store it elsewhere and pass a "
            "reference, or raise broker_max_value_mb")
    return encoded.decode()


def decode(payload: str) -> Any:
    """The plain JSON value behind ``payload`` (a dataclass comes back as a dict)."""
    return orjson.loads(payload)


def check_name(name: object, what: str) -> str:
    """Channel, key, lock and queue names are non-empty strings."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what} must be a non-empty str, got {name!r}")
    return name

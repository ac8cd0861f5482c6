"""Values crossing the broker: encoded once with orjson at the call, so bad values fail early."""

from __future__ import annotations

from typing import Any

import orjson


def encode(value: Any, what: str = "value") -> str:
    """JSON text for ``value`` (dataclasses and datetimes included); TypeError otherwise.

    ``what`` names the argument in the error, e.g. ``"cache value for 'session:1'"``.
    """
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as error:
        raise TypeError(
            f"{what} is not JSON-serialisable ({type(value).__name__}): {error}; "
            "the broker accepts dicts, lists, str, int, float, bool, None, "
            "dataclasses and datetimes") from None


def decode(payload: str) -> Any:
    """The plain JSON value behind ``payload`` (a dataclass comes back as a dict)."""
    return orjson.loads(payload)


def check_name(name: Any, what: str) -> str:
    """Channel, key, lock and queue names are non-empty strings."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what} must be a non-empty str, got {name!r}")
    return name

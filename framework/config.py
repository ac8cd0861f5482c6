"""Config classes: FrameworkConfig, loading values from the environment, and their sources.

A config is a dataclass. Its values come from four layers, lowest first: the dataclass
defaults, ``Module(**options)``, the environment (``APP_<MODULE>_<FIELD>``, also read from
``.env``) and command-line flags. `ConfigValues` keeps the layers apart so that
``fw debug:config`` can say where every value came from.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from framework.errors import FrameworkError
from framework.values.fields import TypeForm, type_name
from framework.values.text import parse_string, string_parser

__all__ = ["SOURCES", "ConfigError", "ConfigSource", "ConfigValues", "FrameworkConfig",
           "config_fields", "convert", "env_variable", "read_dotenv"]

SOURCES = ("default", "option", "env", "flag")


class ConfigError(FrameworkError, ValueError):
    """A config value is unknown or cannot be converted; the message names it.

    ``field`` is the config field at fault, when one is: the layer that set it then names
    the environment variable or the flag too.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class FrameworkConfig:
    """Settings of the server and the broker (the ``framework`` module, ``APP_FRAMEWORK_*``)."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int | Literal["auto"] = 0
    graceful_shutdown_timeout: float = 30.0
    worker_timeout: float = 30.0
    max_requests: int = 0
    max_requests_jitter: int = 0
    max_memory_mb: int = 0
    reuse_port: bool = False
    loop: Literal["auto", "asyncio", "uvloop"] = "auto"  # a serving process's event loop
    broker_url: str = ""
    max_body_size: int = 1048576
    access_log: bool = True
    debug: bool = False
    # Limits that keep a worker alive under hostile or careless clients (docs/configuration.md)
    keepalive_timeout: float = 5.0
    header_read_timeout: float = 10.0
    rpc_max_batch: int = 1000
    rpc_max_in_flight: int = 64
    broker_max_value_mb: float = 8.0
    # Operating the running server (docs/operations.md)
    control_socket: str = ""
    health_path: str = "/healthz"
    ready_path: str = "/readyz"
    metrics_path: str = "/metrics"
    openapi_path: str = "/openapi.json"  # also turns GET /docs on; "": both off
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    # Cross-origin requests: the origins browsers may call from ("*": any); empty: off
    cors_origins: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.workers != "auto" and (not isinstance(self.workers, int) or self.workers < 0):
            raise ConfigError(f"FrameworkConfig.workers: expected an int >= 0 or 'auto', "
                              f"got {self.workers!r}", "workers")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"FrameworkConfig.port: expected 0..65535, got {self.port!r}",
                              "port")
        for name in ("graceful_shutdown_timeout", "worker_timeout", "max_requests",
                     "max_requests_jitter", "max_memory_mb", "max_body_size",
                     "keepalive_timeout", "header_read_timeout"):
            if getattr(self, name) < 0:
                raise ConfigError(f"FrameworkConfig.{name}: expected a value >= 0, "
                                  f"got {getattr(self, name)!r}", name)

        for name in ("rpc_max_batch", "rpc_max_in_flight", "broker_max_value_mb"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"FrameworkConfig.{name}: expected a value > 0, "
                                  f"got {getattr(self, name)!r}", name)
        if self.broker_url:
            self._check_broker_url()

    def _check_broker_url(self) -> None:
        """The broker_url's syntax, so a typo stops start-up instead of failing every request."""
        import re
        from urllib.parse import urlsplit

        def bad(reason: str) -> ConfigError:
            shown = re.sub(r"(//[^/@]*?:)[^/@]*@", r"\1***@", self.broker_url)  # no password
            return ConfigError(f"FrameworkConfig.broker_url: {reason}, got {shown!r} "
                               "(e.g. redis://127.0.0.1:6379/0; empty for the built-in broker)",
                               "broker_url")

        if self.broker_url.partition("://")[0] not in ("redis", "rediss", "unix"):
            raise bad("expected redis://, rediss:// or unix://")
        try:
            url = urlsplit(self.broker_url)
            url.port  # noqa: B018 - reading it raises unless the port is a number 0..65535
        except ValueError:
            raise bad("expected a host and a port from 0 to 65535") from None
        database = url.path.strip("/")
        if url.scheme != "unix" and database and not database.isdigit():
            raise bad("the database after the host must be a number")
        if url.scheme == "unix" and not url.path:
            raise bad("expected the socket's path after unix://")

    def worker_count(self) -> int:
        """How many workers to fork: ``workers``, with "auto" meaning one per CPU."""
        if self.workers == "auto":
            return os.cpu_count() or 1
        return int(self.workers)


def config_fields(config_class: type) -> dict[str, TypeForm]:
    """The fields of a config dataclass and their resolved type hints."""
    if not dataclasses.is_dataclass(config_class):
        raise ConfigError(f"{config_class.__name__} is not a dataclass: a config must be one")
    hints = typing.get_type_hints(config_class)
    return {field.name: hints[field.name] for field in dataclasses.fields(config_class)
            if field.init}


def convert(raw: str, annotation: TypeForm, variable: str) -> object:
    """Convert the text of ``variable`` to ``annotation``; ConfigError naming all three.

    The rules are HTTP's too (framework.values.text): one spelling for every type everywhere.
    """
    parse = string_parser(annotation, build_others=True)
    if parse is None:
        raise ConfigError(f"{variable}: fw cannot read a {type_name(annotation)} from text; "
                          "give the field a plain type (str, int, bool, an Enum, ...)")
    try:
        return parse_string(parse, annotation, raw)
    except ValueError as error:
        raise ConfigError(f"{variable}: {error}") from None


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (comments, ``export`` and quotes understood)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        text = text.removeprefix("export ").strip()
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def env_variable(prefix: str, module_name: str, field: str) -> str:
    """``APP_FRAMEWORK_WORKERS`` for ("APP_", "framework", "workers"); root: ``APP_<FIELD>``."""
    part = module_name.upper().replace("-", "_").replace(".", "_")
    return f"{prefix}{part}_{field.upper()}" if part else f"{prefix}{field.upper()}"


class ConfigSource(NamedTuple):
    """Where one config value came from: its layer and, for "env", the variable."""

    module: str
    field: str
    value: object
    source: str
    variable: str


class ConfigValues:
    """The layered values of one module's config class, and the instance they build."""

    def __init__(self, config_class: type, owner: str) -> None:
        self.config_class = config_class
        self.owner = owner
        self.fields = config_fields(config_class)
        self._layers: dict[str, dict[str, object]] = {source: {} for source in SOURCES}
        self.variables: dict[str, str] = {}

    def set(self, source: str, values: Mapping[str, object]) -> None:
        """Put ``values`` in the ``source`` layer; an unknown field names the valid ones."""
        unknown = sorted(set(values) - set(self.fields))
        if unknown:
            what = "option" if source == "option" else "setting"
            raise ConfigError(
                f"unknown {what} {', '.join(unknown)} for {self.owner}; valid: "
                f"{', '.join(self.fields)}")
        for name, value in values.items():
            if source == "flag" and isinstance(value, str) and self.fields[name] is not str:
                value = convert(value, self.fields[name], f"--{name.replace('_', '-')}")
            self._layers[source][name] = value

    def load_env(self, prefix: str, module_name: str, environ: Mapping[str, str]) -> None:
        """Read ``<prefix><MODULE>_<FIELD>`` of every field present in ``environ``."""
        values = {}
        for name, annotation in self.fields.items():
            variable = env_variable(prefix, module_name, name)
            if variable in environ:
                values[name] = convert(environ[variable], annotation, variable)
                self.variables[name] = variable
        self._layers["env"].update(values)

    def sources(self, module: str) -> list[ConfigSource]:
        """Every field with its effective value and the layer it came from; ``module`` is
        how the rows name this config's module."""
        current = self.build()
        rows = []
        for name in self.fields:
            source = next((layer for layer in reversed(SOURCES[1:])
                           if name in self._layers[layer]), "default")
            variable = self.variables[name] if source == "env" else ""
            rows.append(ConfigSource(module, name, getattr(current, name), source, variable))
        return rows

    def build(self) -> object:
        """A new config instance with the layers merged, highest precedence last."""
        merged: dict[str, object] = {}
        for source in SOURCES[1:]:
            merged.update(self._layers[source])
        try:
            return self.config_class(**merged)
        except TypeError as error:
            raise ConfigError(f"{self.owner}: {error}") from None
        except ConfigError as error:
            where = self._where_set(error.field)
            if where is None:
                raise
            raise ConfigError(f"{where}: {error}", error.field) from None

    def _where_set(self, field: str | None) -> str | None:
        """The flag or environment variable that set ``field``, if one did."""
        if field in self._layers["flag"]:
            return f"--{field.replace('_', '-')}"
        if field in self._layers["env"]:
            return self.variables.get(field)
        return None

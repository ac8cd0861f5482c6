"""Config: env loading with every supported type, bad values, .env, precedence, sources."""

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import pytest

from framework import App, FrameworkConfig, FrameworkModule, Module
from framework.config import ConfigError, read_dotenv


class Level(enum.Enum):
    DEBUG = "debug"
    INFO = "info"


class Speed(enum.IntEnum):
    SLOW = 1
    FAST = 2


@dataclass
class ShopConfig:
    title: str = "shop"
    size: int = 10
    ratio: float = 0.5
    enabled: bool = False
    discount: Optional[int] = None  # noqa: UP045
    level: Level = Level.INFO
    speed: Speed = Speed.SLOW
    tags: list[str] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    mode: Literal["fast", "safe"] = "safe"


class ShopModule(Module):
    name = "shop"
    config = ShopConfig


@dataclass
class RootConfig:
    greeting: str = "Hello"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No APP_ variables of the caller's, and a working directory without .env."""
    for name in list(os.environ):
        if name.startswith("APP_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def shop(**options: object) -> ShopConfig:
    return App(imports=[ShopModule(**options)]).load_config_from_env().get(ShopConfig)


def test_every_supported_type_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in {"TITLE": "Corner Shop", "SIZE": "42", "RATIO": "1.25", "ENABLED": "yes",
                        "DISCOUNT": "15", "LEVEL": "debug", "SPEED": "FAST",
                        "TAGS": "a, b,c", "PORTS": "[80, 443]", "MODE": "fast"}.items():
        clean_env.setenv(f"APP_SHOP_{name}", value)
    config = shop()
    assert config == ShopConfig(title="Corner Shop", size=42, ratio=1.25, enabled=True,
                                discount=15, level=Level.DEBUG, speed=Speed.FAST,
                                tags=["a", "b", "c"], ports=[80, 443], mode="fast")


@pytest.mark.parametrize(("text", "expected"), [
    ("true", True), ("1", True), ("On", True), ("YES", True),
    ("false", False), ("0", False), ("off", False), ("no", False)])
def test_bool_spellings(clean_env: pytest.MonkeyPatch, text: str, expected: bool) -> None:
    clean_env.setenv("APP_SHOP_ENABLED", text)
    assert shop().enabled is expected


@pytest.mark.parametrize("text", ["", "none", "null"])
def test_optional_empty_is_none(clean_env: pytest.MonkeyPatch, text: str) -> None:
    clean_env.setenv("APP_SHOP_DISCOUNT", text)
    assert shop(discount=5).discount is None


def test_enum_by_value_and_int_enum_by_value(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_SHOP_LEVEL", "DEBUG")
    clean_env.setenv("APP_SHOP_SPEED", "2")
    config = shop()
    assert (config.level, config.speed) == (Level.DEBUG, Speed.FAST)


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("APP_SHOP_SIZE", "ten", "APP_SHOP_SIZE: expected int, got 'ten'"),
    ("APP_SHOP_RATIO", "half", "APP_SHOP_RATIO: expected float, got 'half'"),
    ("APP_SHOP_ENABLED", "maybe",
     "APP_SHOP_ENABLED: expected bool (true/false, 1/0, yes/no, on/off), got 'maybe'"),
    ("APP_SHOP_DISCOUNT", "lots", "APP_SHOP_DISCOUNT: expected int | None, got 'lots'"),
    ("APP_SHOP_LEVEL", "loud", "APP_SHOP_LEVEL: expected one of ['debug', 'info'], got 'loud'"),
    ("APP_SHOP_PORTS", "80,http",
     "APP_SHOP_PORTS: expected list[int] (comma-separated or a JSON array), got '80,http'"),
    ("APP_SHOP_MODE", "slow", "APP_SHOP_MODE: expected one of ['fast', 'safe'], got 'slow'"),
    ("APP_FRAMEWORK_WORKERS", "many", "APP_FRAMEWORK_WORKERS: expected int | 'auto', got 'many'"),
    ("APP_FRAMEWORK_PORT", "80a", "APP_FRAMEWORK_PORT: expected int, got '80a'"),
])
def test_a_bad_value_names_variable_type_and_value(clean_env: pytest.MonkeyPatch, variable: str,
                                                   value: str, message: str) -> None:
    clean_env.setenv(variable, value)
    app = App(imports=[FrameworkModule(), ShopModule()])
    with pytest.raises(ConfigError) as error:
        app.load_config_from_env()
    assert str(error.value) == message


def test_a_value_out_of_range_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_FRAMEWORK_WORKERS", "-1")
    with pytest.raises(ConfigError, match=r"FrameworkConfig.workers: expected an int >= 0 or "
                                          r"'auto', got -1"):
        App(imports=[FrameworkModule()]).load_config_from_env()


def test_framework_fields_and_the_root_config(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_FRAMEWORK_WORKERS", "auto")
    clean_env.setenv("APP_FRAMEWORK_BROKER_URL", "redis://127.0.0.1:6379/0")
    clean_env.setenv("APP_GREETING", "Hi")
    app = App(config=RootConfig, imports=[FrameworkModule()]).load_config_from_env()
    config = app.get(FrameworkConfig)
    assert config.workers == "auto" and config.worker_count() == (os.cpu_count() or 1)
    assert config.broker_url == "redis://127.0.0.1:6379/0"
    assert app.get(RootConfig).greeting == "Hi"


def test_a_custom_prefix(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHOP_APP_SHOP_SIZE", "7")
    app = App(imports=[ShopModule()]).load_config_from_env(prefix="SHOP_APP_")
    assert app.get(ShopConfig).size == 7


def test_dotenv_is_read_and_the_environment_wins(clean_env: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# shop settings\n"
        "APP_SHOP_SIZE=5\n"
        "export APP_SHOP_TITLE=\"Big Shop\"\n"
        "APP_SHOP_TAGS=x,y  # inline comment\n"
        "\n"
        "APP_SHOP_RATIO='0.75'\n")
    clean_env.setenv("APP_SHOP_SIZE", "6")
    config = shop()
    assert (config.size, config.title, config.tags, config.ratio) == (6, "Big Shop",
                                                                      ["x", "y"], 0.75)


def test_a_malformed_dotenv_line_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("APP_A=1\nthis is not a setting\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE, got 'this is not a "
                                          r"setting'"):
        read_dotenv(tmp_path / ".env")


def test_precedence_defaults_options_environment_flags(clean_env: pytest.MonkeyPatch) -> None:
    app = App(imports=[FrameworkModule(workers=2, port=7000, host="0.0.0.0")])
    clean_env.setenv("APP_FRAMEWORK_PORT", "7100")
    clean_env.setenv("APP_FRAMEWORK_HOST", "127.0.0.2")
    app.configure("framework", host="127.0.0.3")
    app.load_config_from_env()
    config = app.get(FrameworkConfig)
    assert (config.workers, config.port, config.host, config.max_requests) == (
        2, 7100, "127.0.0.3", 0)
    sources = {(module, name): (value, source, variable)
               for module, name, value, source, variable in app.config_sources()}
    assert sources["framework", "workers"] == (2, "option", "")
    assert sources["framework", "port"] == (7100, "env", "APP_FRAMEWORK_PORT")
    assert sources["framework", "host"] == ("127.0.0.3", "flag", "")
    assert sources["framework", "max_requests"] == (0, "default", "")


def test_flags_given_as_text_are_converted_by_the_field_type() -> None:
    app = App(imports=[FrameworkModule()]).configure("framework", workers="3", port="9001")
    config = app.get(FrameworkConfig)
    assert (config.workers, config.port) == (3, 9001)
    with pytest.raises(ConfigError, match="^--workers: expected int \\| 'auto', got 'x'$"):
        app.configure("framework", workers="x")


def test_configure_refuses_an_unknown_field_or_module() -> None:
    app = App(imports=[FrameworkModule()])
    with pytest.raises(ConfigError, match="unknown setting wrkers for FrameworkModule"):
        app.configure("framework", wrkers=2)
    with pytest.raises(ConfigError, match="^no module config named 'nope'; configs: 'framework'$"):
        app.configure("nope", x=1)


def test_a_config_must_be_a_dataclass() -> None:
    class NotData:
        size = 1

    class Odd(Module):
        config = NotData

    with pytest.raises(ConfigError, match="NotData is not a dataclass"):
        App(imports=[Odd()])

"""A bad broker_url stops start-up with one line and exit code 2, instead of serving 500s."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework import App, FrameworkConfig, FrameworkModule
from framework.config import ConfigError
from tests.support import free_port, run_fw

BAD_URLS = {
    "foo://x": "expected redis://, rediss:// or unix://",
    "redis://127.0.0.1:notaport/0": "expected a host and a port from 0 to 65535",
    "redis://127.0.0.1:70000/0": "expected a host and a port from 0 to 65535",
    "redis://127.0.0.1:6379/zero": "the database after the host must be a number",
    "unix://": "expected the socket's path after unix://",
}

GOOD_URLS = ["redis://127.0.0.1:6379/0", "redis://", "rediss://user:pw@cache.internal:6380/2",
             "unix:///run/redis.sock?db=1", "redis://:pw@localhost"]


@pytest.mark.parametrize("url", list(BAD_URLS))
def test_building_the_app_rejects_a_bad_broker_url(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        App(imports=[FrameworkModule(broker_url=url)])
    assert str(raised.value).startswith(f"FrameworkConfig.broker_url: {BAD_URLS[url]}, ")


@pytest.mark.parametrize("url", GOOD_URLS)
def test_well_formed_broker_urls_are_accepted(url: str) -> None:
    assert FrameworkConfig(broker_url=url).broker_url == url


def test_the_error_does_not_show_the_password() -> None:
    with pytest.raises(ConfigError) as raised:
        FrameworkConfig(broker_url="redis://app:s3cret@cache.internal:63a9/0")
    assert "s3cret" not in str(raised.value)
    assert "redis://app:***@cache.internal:63a9/0" in str(raised.value)


@pytest.mark.parametrize("url", ["foo://x", "redis://127.0.0.1:notaport/0"])
def test_server_start_with_a_bad_broker_url_exits_2_with_one_line(
        tmp_path: Path, url: str) -> None:
    (tmp_path / "app.py").write_text(
        "from framework import App, FrameworkModule\n"
        "app = App(imports=[FrameworkModule()], name='shop')\n")
    port = str(free_port())
    result = run_fw("server:start", cwd=tmp_path,
                    env={"APP_FRAMEWORK_BROKER_URL": url, "APP_FRAMEWORK_PORT": port})
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        "Error: ConfigError: APP_FRAMEWORK_BROKER_URL: FrameworkConfig.broker_url: ")
    assert repr(url) in result.stderr
    assert "serving" not in result.stdout + result.stderr


def test_a_bad_value_from_a_flag_names_the_flag(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "from framework import App, FrameworkModule\n"
        "app = App(imports=[FrameworkModule()], name='shop')\n")
    result = run_fw("server:start", "--workers=-3", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == ("Error: --workers: FrameworkConfig.workers: expected an int >= 0 "
                             "or 'auto', got -3\n")

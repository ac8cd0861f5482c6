"""The ``fw`` command line, run as ``python -m framework.cli`` in a directory with an app."""

import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from tests.support import ServerProcess, run_fw

APP = '''
import asyncio
from dataclasses import dataclass

import click

from framework import App, FrameworkModule, Module, event_dispatcher, http, provide
from framework.events import AppEvent, on_app_execute, on_app_shutdown


@dataclass
class AppConfig:
    greeting: str = "Hello"


class Greeter:
    def __init__(self, config: AppConfig) -> None:
        self.config = config

    def greet(self, name: str) -> str:
        return f"{self.config.greeting}, {name}!"


class Visit:
    """Request-scoped: a command runs in a request scope of its own."""


class GreetingController:
    def __init__(self, greeter: Greeter) -> None:
        self.greeter = greeter

    @http.get("/hello/{name}")
    async def hello(self, name: str) -> dict:
        return {"message": self.greeter.greet(name)}


@click.command("greet")
@click.argument("name")
@click.option("--times", type=int, default=1)
def greet(name: str, times: int, greeter: Greeter, visit: Visit) -> None:
    """Print a greeting."""
    for _ in range(times):
        click.echo(greeter.greet(name))


@click.command("slow-greet")
@click.argument("name")
async def slow_greet(name: str, greeter: Greeter) -> None:
    await asyncio.sleep(0)
    click.echo("async " + greeter.greet(name))


@click.command("whoami")
@click.pass_context
def whoami(ctx: click.Context, greeter: Greeter) -> None:
    click.echo(f"{ctx.command.name}: {greeter.greet('me')}")


@click.command("fail")
def fail() -> None:
    raise click.ClickException("it went wrong")


class Lifecycle:
    @event_dispatcher.listen(on_app_execute)
    def execute(self, event: AppEvent) -> None:
        click.echo(f"execute {event.command}")

    @event_dispatcher.listen(on_app_shutdown)
    async def shutdown(self, event: AppEvent) -> None:
        click.echo(f"shutdown {event.command} {event.exit_code}")


class MainModule(Module):
    name = "main"
    providers = [Greeter, provide(Visit, scope="request")]
    controllers = [GreetingController]
    listeners = [Lifecycle]
    commands = [greet, slow_greet, whoami, fail]


app = App(config=AppConfig, imports=[FrameworkModule(workers=3), MainModule()], name="demo")

if __name__ == "__main__":
    app.run()
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [f"Error: {text}"]


def test_a_module_command_with_injected_parameters_and_events(project: Path) -> None:
    result = run_fw("greet", "Ada", "--times", "2", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["execute greet", "Hello, Ada!", "Hello, Ada!",
                                          "shutdown greet 0"]


def test_python_app_py_runs_the_same_commands(project: Path) -> None:
    result = run_fw("greet", "Bob", cwd=project, env={"APP_GREETING": "Hi"},
                script=[sys.executable, "app.py"])
    assert result.returncode == 0, result.stderr
    assert "Hi, Bob!" in result.stdout.splitlines()


def test_an_async_command_is_awaited(project: Path) -> None:
    result = run_fw("slow-greet", "Cy", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["execute slow-greet", "async Hello, Cy!",
                                          "shutdown slow-greet 0"]


def test_a_command_with_click_context_and_injection(project: Path) -> None:
    result = run_fw("whoami", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "whoami: Hello, me!" in result.stdout.splitlines()


def test_on_app_shutdown_fires_after_a_failed_command(project: Path) -> None:
    result = run_fw("fail", cwd=project)
    assert result.stdout.splitlines() == ["execute fail", "shutdown fail 1"]
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: it went wrong"


def test_module_commands_are_listed_in_help(project: Path) -> None:
    result = run_fw("--help", cwd=project)
    assert result.returncode == 0
    for name in ("greet", "slow-greet", "server:start", "debug:config", "debug:di", "new"):
        assert name in result.stdout


def test_discovery_by_flag_and_by_fw_app(tmp_path: Path) -> None:
    (tmp_path / "shop.py").write_text(APP.replace("app = App(", "shop_app = App("))
    by_flag = run_fw("--app", "shop:shop_app", "greet", "Di", cwd=tmp_path)
    assert "Hello, Di!" in by_flag.stdout.splitlines(), by_flag.stderr
    by_env = run_fw("greet", "Ed", cwd=tmp_path, env={"FW_APP": "shop:shop_app"})
    assert "Hello, Ed!" in by_env.stdout.splitlines(), by_env.stderr


def test_discovery_failures_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    one_line_error(run_fw("debug:config", cwd=tmp_path),
                   "no app found: pass --app module:attr, set FW_APP, or run fw in the "
                   "directory of your app.py")
    one_line_error(run_fw("debug:config", "--app", "missing_module:app", cwd=tmp_path),
                   "cannot import app module 'missing_module': ModuleNotFoundError: "
                   "No module named 'missing_module'")
    (tmp_path / "notapp.py").write_text("app = 42\n")
    one_line_error(run_fw("debug:config", "--app", "notapp:app", cwd=tmp_path),
                   "notapp:app is not an fw App (found int)")


def test_an_unknown_command_is_one_line(project: Path) -> None:
    one_line_error(run_fw("nope", cwd=project),
                   "no such command 'nope'; commands: debug:config, debug:di, debug:routes, "
                   "new, queue:purge, queue:retry, queue:status, server:reload, "
                   "server:scale, server:start, server:status, server:stop, fail, greet, "
                   "slow-greet, whoami")


def test_a_bad_environment_value_stops_with_one_line(project: Path) -> None:
    result = run_fw("greet", "X", cwd=project, env={"APP_FRAMEWORK_WORKERS": "lots"})
    one_line_error(result, "ConfigError: APP_FRAMEWORK_WORKERS: expected int | 'auto', "
                           "got 'lots'")


def test_a_broken_graph_stops_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent('''
        from framework import App

        class Db:
            pass

        class Users:
            def __init__(self, db: Db) -> None:
                self.db = db

        app = App(providers=[Users])
    '''))
    one_line_error(run_fw("debug:di", cwd=tmp_path),
                   "MissingDependency: Users -> Db: no provider for Db (declared in App? "
                   "exported by an imported module?)")


def test_server_start_applies_flags_and_serves(project: Path) -> None:
    with ServerProcess("app:app", "--workers", "0", cwd=project,
                       env={"APP_GREETING": "Howdy"}) as server:
        server.wait_serving()
        with urllib.request.urlopen(f"{server.url}/hello/Flo", timeout=10) as response:
            assert response.read() == b'{"message":"Howdy, Flo!"}'
        assert server.stop() == 0
    output = server.output()
    assert "execute server:start" in output and "shutdown server:start 0" in output


def test_server_start_refuses_a_bad_workers_flag(project: Path) -> None:
    one_line_error(run_fw("server:start", "--workers", "many", cwd=project),
                   "--workers: expected int | 'auto', got 'many'")


LOOP_APP = '''
import asyncio

import click

from framework import App, Module, event_dispatcher, provide
from framework.events import AppEvent, on_app_execute, on_app_shutdown


class Jobs:
    """Work for a consumer task that on_app_execute starts on the command's event loop."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.done: list[str] = []
        self.consumer: asyncio.Task[None] | None = None


class Pool:
    """An async resource: opened when the command starts, closed after on_app_shutdown."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()


async def open_pool():
    pool = Pool()
    yield pool
    click.echo(f"pool closed on its own loop: {asyncio.get_running_loop() is pool.loop}")


class JobConsumer:
    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs

    @event_dispatcher.listen(on_app_execute)
    async def start(self, event: AppEvent) -> None:
        self.jobs.consumer = asyncio.create_task(self.consume())

    async def consume(self) -> None:
        while True:
            job = await self.jobs.queue.get()
            self.jobs.done.append(job)
            self.jobs.queue.task_done()

    @event_dispatcher.listen(on_app_shutdown)
    async def stop(self, event: AppEvent) -> None:
        self.jobs.consumer.cancel()
        click.echo(f"consumer stopped after {len(self.jobs.done)} jobs")


@click.command("enqueue")
@click.argument("count", type=int)
async def enqueue(count: int, jobs: Jobs, pool: Pool) -> None:
    for number in range(count):
        jobs.queue.put_nowait(f"job {number}")
    await asyncio.wait_for(jobs.queue.join(), 30)
    click.echo(f"done: {', '.join(jobs.done)}; pool on this loop: "
               f"{pool.loop is asyncio.get_running_loop()}")


class JobsModule(Module):
    providers = [Jobs, provide(Pool, use_factory=open_pool)]
    listeners = [JobConsumer]
    commands = [enqueue]


app = App(imports=[JobsModule()])
'''


def test_a_command_runs_on_the_event_loop_its_on_app_execute_listeners_used(
        tmp_path: Path) -> None:
    """A consumer task started at on_app_execute serves the command and is stopped at
    on_app_shutdown; the command's async resources close after that, on the same loop."""
    (tmp_path / "app.py").write_text(LOOP_APP)
    result = run_fw("enqueue", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["done: job 0, job 1, job 2; pool on this loop: True",
                                          "consumer stopped after 3 jobs",
                                          "pool closed on its own loop: True"]

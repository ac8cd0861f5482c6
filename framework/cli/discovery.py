"""Finding the app a command runs on, and where it was found.

The app is the one ``App.run`` was called on, or the one named by ``--app module:attr``,
``FW_APP`` or ``app.py`` in the working directory. Where it was found names its project
(which its running server identifies by) and how a reload imports it again.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import click

from framework.app import App
from framework.cli.errors import APP_ERRORS, CliError
from framework.config import ConfigError
from framework.server.reloader import AppSource, project_of_module

__all__ = ["APP_OPTION", "app_location", "app_of", "discover_app", "project_without_app",
           "source_of"]

APP_OPTION = click.option("--app", "app_spec", metavar="MODULE:ATTR",
                          help="The app to use (default: $FW_APP, or app.py here).")


def app_location(spec: str | None) -> tuple[str, str]:
    """The module and attribute of the app named by ``spec`` (``module:attr``), ``FW_APP``,
    or ``app.py`` in the cwd."""
    spec = spec or os.environ.get("FW_APP")
    if spec:
        module_name, _, attribute = spec.partition(":")
        return module_name, attribute or "app"
    if Path("app.py").is_file():
        return "app", "app"
    raise CliError("no app found: pass --app module:attr, set FW_APP, "
                   "or run fw in the directory of your app.py")


def discover_app(spec: str | None) -> App:
    """The App named by ``spec`` (``module:attr``), ``FW_APP``, or ``app.py`` in the cwd."""
    module_name, attribute = app_location(spec)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except APP_ERRORS as error:
        raise CliError(f"{type(error).__name__}: {error}") from None
    except Exception as error:
        raise CliError(f"cannot import app module {module_name!r}: "
                       f"{type(error).__name__}: {error}") from None
    app = getattr(module, attribute, None)
    if not isinstance(app, App):
        found = "nothing" if app is None else type(app).__name__
        raise CliError(f"{module_name}:{attribute} is not an fw App (found {found})")
    return app


def app_of(ctx: click.Context, spec: str | None = None) -> App:
    """The app of this invocation: given to App.run, or discovered once."""
    root = ctx.find_root()
    state = root.ensure_object(dict)
    if "app" not in state or spec:
        spec = spec or root.params.get("app_spec")
        state["app"] = discover_app(spec)
        state["found_at"] = app_location(spec)  # where a reload imports it again
    app: App = state["app"]
    if not app.env_loaded:
        try:
            app.load_config_from_env()
        except ConfigError as error:
            raise CliError(f"ConfigError: {error}") from None
    return app


def source_of(ctx: click.Context | None, app: App) -> AppSource:
    """Where this invocation found ``app``: its project, and how a reload imports it."""
    found_at = ctx.find_root().ensure_object(dict).get("found_at") if ctx else None
    return AppSource.found_at(*found_at) if found_at else AppSource.of_main(app)


def project_without_app(app_spec: str | None) -> str | None:
    """The project of an app that cannot be imported: its module's, found without running
    it; with no app to find at all, the working directory (as for an app built in python -c
    code)."""
    try:
        module_name = app_location(app_spec)[0]
    except CliError:
        return os.getcwd()
    return project_of_module(module_name)

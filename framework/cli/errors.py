"""The command line's errors: one line on stderr with exit code 2, or 1 when the running
server could not carry out an operation; and the app's own errors that become such a line."""

from __future__ import annotations

import click

from framework.config import ConfigError
from framework.di.errors import DependencyError
from framework.errors import DeclarationError, FrameworkError
from framework.events import ListenerError

__all__ = ["APP_ERRORS", "CliError", "OperationFailed"]

APP_ERRORS = (ConfigError, DeclarationError, DependencyError, ListenerError)
"""What a faulty app raises as it is imported, built or run: shown as one line, exit 2."""


class CliError(FrameworkError, click.ClickException):
    """A one-line error; exit code 2."""

    exit_code = 2


class OperationFailed(CliError):
    """The running server could not carry out an operation (a reload that failed); exit 1."""

    exit_code = 1

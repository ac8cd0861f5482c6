"""``fw new NAME``: a new project from fw's template (framework/cli/scaffold.py copies it).
It runs on no app, so it finds none."""

from __future__ import annotations

from pathlib import Path

import click

from framework.cli.errors import CliError
from framework.cli.scaffold import ScaffoldError, create_project, fw_source, next_steps

__all__ = ["new"]


@click.command("new")
@click.argument("name")
@click.option("--directory", type=click.Path(file_okay=False, path_type=Path),
              help="Where to create the project (default: ./NAME).")
def new(name: str, directory: Path | None) -> None:
    """Create a new project NAME from fw's template."""
    target = directory or Path(name)
    try:
        create_project(name, target)
    except ScaffoldError as error:
        raise CliError(str(error)) from None
    steps = "".join(f"    {step}\n" for step in next_steps(target))
    click.echo(f"Created {target}. Next, in a shell:\n\n{steps}")
    if fw_source() is not None:
        click.echo("fw is on no package index: the first pip step installs it from where "
                   "this fw came from.")

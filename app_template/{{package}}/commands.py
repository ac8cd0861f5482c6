"""Commands that join `fw` and `python app.py`: `python app.py greet NAME`."""

import click

from {{package}}.services import Greeter


@click.command("greet")
@click.argument("name")
def greet(name: str, greeter: Greeter) -> None:
    """Print a greeting for NAME."""
    click.echo(greeter.greet(name))

"""A command group: one Typer app, its subcommands registered in the listed order (the order --help shows)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import typer


def make_group(help: str, commands: Sequence[tuple[str, Callable[..., None]]]) -> typer.Typer:
    """``tokkit GROUP``: ``commands`` are ``(name, command function)``; called bare, the group shows its help."""
    app = typer.Typer(help=help, no_args_is_help=True)
    for name, command in commands:
        app.command(name)(command)
    return app

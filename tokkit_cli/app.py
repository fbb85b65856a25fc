"""The ``tokkit`` command line: parses, calls one library function, renders.

Errors: a usage error exits 2 with one line; an expected failure (``TokkitError``) exits 1 with
one red line naming cause and fix; anything else is a bug: one line too, with the traceback
only under ``TOKKIT_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tokkit import __version__
from tokkit.errors import TokkitError


def _say_error(message: str, hint: str | None = None) -> None:
    from tokkit_cli.console import stderr

    text = f"error: {message}" + (f" ({hint})" if hint else "")
    stderr.print(text, style="bold red", markup=False, highlight=False, soft_wrap=True)


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(UsageError, ClickException, NoArgsIsHelpError) classes: typer >= 0.25 vendors click."""
    usage: list[type] = []
    other: list[type] = []
    no_args: list[type] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            import importlib

            m = importlib.import_module(module)
        except ImportError:
            continue
        usage.append(m.UsageError)
        other.append(m.ClickException)
        if hasattr(m, "NoArgsIsHelpError"):
            no_args.append(m.NoArgsIsHelpError)
    return tuple(usage), tuple(other), tuple(no_args)


CLICK_USAGE_ERRORS, CLICK_ERRORS, NO_ARGS_ERRORS = _click_exceptions()


class TokkitGroup(TyperGroup):
    """Runs click in non-standalone mode so that every failure becomes one line and an exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra: Any):  # type: ignore[override]
        debug = os.environ.get("TOKKIT_DEBUG") == "1"
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
        except NO_ARGS_ERRORS as e:  # a group called bare: show its help
            typer.echo(e.ctx.get_help())
            code = 0
        except CLICK_USAGE_ERRORS as e:
            cmd = e.ctx.command_path if e.ctx is not None else "tokkit"
            _say_error(e.format_message(), f"see '{cmd} --help'")
            code = 2
        except CLICK_ERRORS as e:
            _say_error(e.format_message())
            code = e.exit_code
        except typer.Abort:
            _say_error("aborted")
            code = 130
        except TokkitError as e:
            if debug:
                import traceback

                traceback.print_exc()
            _say_error(e.message, e.hint)
            code = e.exit_code
        except Exception as e:  # a bug: still one line unless debugging
            if debug:
                import traceback

                traceback.print_exc()
            _say_error(
                f"internal error: {e.__class__.__name__}: {e}",
                "rerun with TOKKIT_DEBUG=1 for the traceback and report it",
            )
            code = 1
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=TokkitGroup,
    name="tokkit",
    help="Image tokenizers and latent-space analysis: build, train, evaluate and inspect tokenizers.\n\n"
    "Example: tokkit data info builtin:photos",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tokkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="CPU threads for torch and BLAS (default: $TOKKIT_THREADS, $OMP_NUM_THREADS, else the cores this "
            "process may use). OpenMP threads wait passively unless OMP_WAIT_POLICY is set.",
        ),
    ] = None,
) -> None:
    """Image tokenizers and latent-space analysis."""
    from tokkit.threads import configure_threads

    configure_threads(threads)  # before any command imports torch: the wait policy is read at load


def _register_commands() -> None:
    """Groups and top-level commands, in the order ``tokkit --help`` lists them. A new top-level command:
    one module in tokkit_cli/commands/ and one line here; a new subcommand: one line in its group's list."""
    from tokkit_cli.commands import data, demo, extract, fit_kmeans, importer, inspect, registry, tokenize, train
    from tokkit_cli.commands import eval as eval_group

    for name, target in [
        ("data", data.app),
        ("list", registry.command),
        ("train", train.command),
        ("inspect", inspect.app),
        ("eval", eval_group.app),
        ("extract", extract.command),
        ("fit-kmeans", fit_kmeans.command),
        ("tokenize", tokenize.command),
        ("import", importer.command),
        ("demo", demo.command),
    ]:
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""Options every command shares, and the session they set up."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout, nothing else.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same result).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda (auto picks CUDA when present).")]
VerifyOpt = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="Decode every image of a folder before starting (default: headers only; an image that does not "
        "decode is skipped when read, counted and named).",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")]


@contextlib.contextmanager
def session(
    seed: int = 0, verbose: bool = False, quiet_progress: bool = False, nested_bars: bool = False
) -> Iterator[None]:
    """Seed, log to stderr, draw progress bars on stderr for the duration of one command.

    ``nested_bars``: one display for a long pipeline; a finished inner bar is removed, the outermost stays."""
    from tokkit.device import seed_everything
    from tokkit.progress import use_reporter
    from tokkit_cli.console import RichReporter, setup_logging

    setup_logging(verbose)
    seed_everything(seed)
    disable = quiet_progress or os.environ.get("TOKKIT_NO_PROGRESS") == "1"
    with use_reporter(RichReporter(disable=disable, remove_finished=nested_bars)):
        yield

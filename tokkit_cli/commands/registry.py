"""``tokkit list``: what the registries hold."""

from __future__ import annotations

from typing import Annotated

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt

KINDS = ("tokenizers", "encoders", "datasets", "metrics")


def registries() -> dict:
    """Registry objects by kind, importing the packages that fill them."""
    import tokkit.data.builtin  # noqa: F401
    import tokkit.tokenizers  # noqa: F401
    from tokkit.data.sources import DATASETS
    from tokkit.tokenizers import TOKENIZERS

    found = {"tokenizers": TOKENIZERS, "datasets": DATASETS}
    try:
        from tokkit.encoders import ENCODERS

        found["encoders"] = ENCODERS
    except ImportError:
        pass
    try:
        from tokkit.metrics import METRICS

        found["metrics"] = METRICS
    except ImportError:
        pass
    return found


def command(
    kind: Annotated[str | None, typer.Argument(help=f"One of: {', '.join(KINDS)} (all when omitted).")] = None,
    pattern: Annotated[str | None, typer.Option("--pattern", "-p", help="Glob filter, e.g. 'vq*'.")] = None,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """List registered tokenizers, encoders, datasets and metrics.

    Example: tokkit list tokenizers --pattern 'vq*'
    """
    from tokkit.errors import UsageError
    from tokkit_cli.render import show
    from tokkit_cli.render.registry import render_registries

    regs = registries()
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind '{kind}'; choose from {', '.join(KINDS)}")
    chosen = {k: r for k, r in regs.items() if kind in (None, k)}
    result = {
        k: [
            {"name": e.name + (":" if e.prefix else ""), "help": e.help}
            for e in r.entries()
            if e.name + (":" if e.prefix else "") in r.names(pattern)
        ]
        for k, r in chosen.items()
    }
    show(result, json, render_registries)

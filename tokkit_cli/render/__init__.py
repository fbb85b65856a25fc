"""Terminal rendering of command results: one module per result kind, each a ``render_*(result, ...)``.

Commands compute a result dict and hand it to :func:`show`; every rich Table and every result line on
stdout is drawn here, never in ``tokkit_cli.commands``. Render modules import rich and
``tokkit_cli.console``, never ``tokkit_cli.commands``; commands import them inside the command body, so
``tokkit --help`` loads none of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def show(
    result: dict[str, Any],
    as_json: bool,
    render: Callable[..., None],
    *args: Any,
    json_view: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    """``--json``: exactly one JSON object on stdout (``json_view(result)`` when given, to print a subset);
    else ``render(result, *args)``. Under torchrun only rank 0 prints (every rank holds the same result)."""
    from tokkit.metrics.shards import is_main_process

    if not is_main_process():
        return
    if as_json:
        from tokkit_cli.console import print_json

        print_json(json_view(result) if json_view is not None else result)
        return
    render(result, *args)

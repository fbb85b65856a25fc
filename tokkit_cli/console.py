"""Terminal output: results on stdout (rich or one JSON object), progress and logs on stderr."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from typing import Any

from rich.console import Console, ConsoleDimensions, Group
from rich.logging import RichHandler
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

# Output that is not a terminal (a pipe, a CI log, a file) is read and copied from: it gets at least
# this width, and no table cell is ever cut with an ellipsis (a long cell folds onto more lines).
PIPED_WIDTH = 160


def fold_tables(renderable: Any) -> Any:
    """Set every column of every table in ``renderable`` (tables, panels, groups) to fold, not cut."""
    if isinstance(renderable, Table):
        for column in renderable.columns:
            if column.overflow == "ellipsis":
                column.overflow = "fold"
            column.no_wrap = False
        for row_cells in (c._cells for c in renderable.columns):
            for cell in row_cells:
                fold_tables(cell)
    elif isinstance(renderable, Panel):
        fold_tables(renderable.renderable)
    elif isinstance(renderable, Group):
        for r in renderable.renderables:
            fold_tables(r)
    return renderable


class TokkitConsole(Console):
    """A rich Console whose tables never lose text: cells fold, and a pipe gets ``PIPED_WIDTH``
    columns (unless ``COLUMNS`` says otherwise); a terminal keeps its own width."""

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        if self._width is None and not self.is_terminal and not os.environ.get("COLUMNS"):
            return ConsoleDimensions(max(dims.width, PIPED_WIDTH), dims.height)
        return dims

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(fold_tables(o) for o in objects), **kwargs)


stdout = TokkitConsole(soft_wrap=True)
stderr = TokkitConsole(stderr=True)


def _jsonable(x: Any) -> Any:
    """NaN/inf become null so that the output is strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:
        return _jsonable(x.item())
    if hasattr(x, "tolist"):
        return _jsonable(x.tolist())
    return x


def print_json(obj: dict[str, Any]) -> None:
    """Exactly one JSON object on stdout, nothing else there."""
    sys.stdout.write(json.dumps(_jsonable(obj)) + "\n")
    sys.stdout.flush()


class RichReporter:
    """tokkit.progress reporter: rich bars on stderr."""

    def __init__(self, console: Console = stderr, disable: bool = False, remove_finished: bool = False):
        self.console = console
        self.disable = disable
        self.remove_finished = remove_finished  # inner bars vanish when done: one display for a pipeline
        self.progress = self._new_progress()
        self._active = 0

    def _new_progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
            disable=self.disable,
        )

    def start(self, description: str, total: int | None):
        if self._active == 0:
            self.progress.start()
        self._active += 1
        task_id = self.progress.add_task(description, total=total)
        return _RichTask(self.progress, task_id)

    def stop(self, task) -> None:
        self._active -= 1
        if self.remove_finished and self._active > 0:
            self.progress.remove_task(task.task_id)
        if self._active == 0:
            self.progress.stop()
            # a fresh Progress for the next task: a stopped one would draw its finished bars again
            self.progress = self._new_progress()


class _RichTask:
    def __init__(self, progress: Progress, task_id):
        self.progress = progress
        self.task_id = task_id

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task_id, n)

    def update(self, description: str) -> None:
        self.progress.update(self.task_id, description=description)


def setup_logging(verbose: bool = False) -> None:
    logger = logging.getLogger("tokkit")
    logger.handlers.clear()
    handler = RichHandler(console=stderr, show_path=False, show_time=False, markup=False)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False

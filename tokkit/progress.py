"""Progress reporting that the library emits and the CLI renders.

Library loops call ``task(description, total)`` and advance it. By default nothing is shown
(library use, tests); the CLI installs a rich reporter on stderr with ``use_reporter``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


class Task(Protocol):
    def advance(self, n: int = 1) -> None: ...
    def update(self, description: str) -> None: ...


class Reporter(Protocol):
    def start(self, description: str, total: int | None) -> Task: ...
    def stop(self, task: Task) -> None: ...


class _NullTask:
    def advance(self, n: int = 1) -> None:
        pass

    def update(self, description: str) -> None:
        pass


class _NullReporter:
    def start(self, description: str, total: int | None) -> Task:
        return _NullTask()

    def stop(self, task: Task) -> None:
        pass


_NULL = _NullReporter()
_reporter: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("tokkit_reporter", default=None)


@contextlib.contextmanager
def use_reporter(reporter: Reporter) -> Iterator[None]:
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


@contextlib.contextmanager
def task(description: str, total: int | None = None) -> Iterator[Task]:
    reporter = _reporter.get() or _NULL
    t = reporter.start(description, total)
    try:
        yield t
    finally:
        reporter.stop(t)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with task(description, total) as t:
        for item in items:
            yield item
            t.advance(1)

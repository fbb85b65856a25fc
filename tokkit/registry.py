"""Named registries for tokenizers, encoders, datasets and metrics.

One mechanism for all four: exact names, optional ``prefix:`` entries whose factory receives the
rest of the spec (``timm:NAME``, ``tokenizer:PATH``, ``builtin:...``), duplicate names are errors and
unknown names suggest the closest registered one.

A registry may name the modules that fill it (``modules=("pkg.family", ...)``, as strings): they are
imported on the first lookup, so the code that looks a name up (checkpoint loading) has no import
edge to the families, and the families can import what sits below them without an import circle.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tokkit.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry(Generic[F]):
    name: str
    factory: F
    help: str
    prefix: bool


class Registry(Generic[F]):
    """A name -> factory table. ``kind`` is used in messages ("unknown encoder 'x'")."""

    def __init__(self, kind: str, modules: Sequence[str] = ()):
        self.kind = kind
        self._entries: dict[str, Entry[F]] = {}
        self._modules = tuple(modules)  # imported on first lookup; each registers its entries
        self._loaded = not self._modules

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # first: a module that looks a name up while it loads does not recurse
        try:
            for module in self._modules:
                importlib.import_module(module)
        except BaseException:
            self._loaded = False
            raise

    def register(self, name: str, factory: F | None = None, *, help: str = "", prefix: bool = False):
        """Register ``factory`` under ``name``; usable as a decorator when ``factory`` is None.

        With ``prefix=True`` the entry matches every spec ``name:REST`` and the factory is called
        with ``REST`` as its first argument.
        """

        def add(f: F) -> F:
            key = name.lower()
            if key in self._entries:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._entries[key] = Entry(name, f, help or (f.__doc__ or "").strip().split("\n")[0], prefix)
            return f

        return add(factory) if factory is not None else add

    def unregister(self, name: str) -> None:
        self._entries.pop(name.lower(), None)

    def resolve(self, spec: str) -> tuple[Entry[F], str | None]:
        """Return the entry for ``spec`` and, for prefix entries, the argument after the colon."""
        self._load()
        key = spec.lower()
        if key in self._entries and not self._entries[key].prefix:
            return self._entries[key], None
        if ":" in spec:
            head, rest = spec.split(":", 1)
            entry = self._entries.get(head.lower())
            if entry is not None and entry.prefix:
                if not rest:
                    raise UsageError(f"{self.kind} spec '{spec}' needs a value after '{head}:'")
                return entry, rest
        raise UsageError(self._unknown_message(spec))

    def get(self, spec: str) -> F:
        return self.resolve(spec)[0].factory

    def create(self, spec: str, **kwargs: Any) -> Any:
        entry, arg = self.resolve(spec)
        return entry.factory(arg, **kwargs) if entry.prefix else entry.factory(**kwargs)

    def names(self, pattern: str | None = None) -> list[str]:
        """Registered names (prefix entries shown as ``name:``), filtered by a glob pattern."""
        self._load()
        shown = [e.name + (":" if e.prefix else "") for e in self._entries.values()]
        if pattern:
            shown = [n for n in shown if fnmatch.fnmatch(n.lower(), pattern.lower())]
        return sorted(shown)

    def entries(self) -> list[Entry[F]]:
        self._load()
        return sorted(self._entries.values(), key=lambda e: e.name)

    def __contains__(self, spec: object) -> bool:
        if not isinstance(spec, str):
            return False
        try:
            self.resolve(spec)
        except UsageError:
            return False
        return True

    def _unknown_message(self, spec: str) -> str:
        names = self.names()
        close = difflib.get_close_matches(spec.lower(), [n.lower() for n in names], n=1, cutoff=0.5)
        msg = f"unknown {self.kind} '{spec}'"
        if close:
            original = next(n for n in names if n.lower() == close[0])
            msg += f"; did you mean '{original}'?"
        else:
            msg += f"; choose from: {', '.join(names)}"
        return msg

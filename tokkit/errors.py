"""Exceptions for expected failures.

The CLI turns a ``TokkitError`` into one red line on stderr and exit code 1 (``UsageError``: 2);
anything else is a bug and shows a traceback only with ``TOKKIT_DEBUG=1``.
"""

from __future__ import annotations


class TokkitError(Exception):
    """An expected failure: bad data, missing file, missing weights. ``hint`` says how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(TokkitError):
    """Bad arguments: unknown names, incompatible options. Exit code 2."""

    exit_code = 2


class DataError(TokkitError):
    """Unreadable, empty, incomplete or mismatched data."""


class WeightsMissingError(TokkitError):
    """Pretrained weights are not on this machine and cannot be downloaded."""


class StoreError(DataError):
    """An HDF5 store that is not a tokkit store, is incomplete, or does not match."""

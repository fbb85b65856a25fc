"""Images skipped on the way into a store, recorded so that output and store name the same files.

Two kinds: left out when the folder was scanned (header unreadable; ``source.unreadable``) and
skipped at read time (pixels do not decode; ``source.skipped``). A store written from images
(``data pack``, ``extract``, ``tokenize --data``) commits with every chunk how far into the source
its rows reach (``source_next``) and the read-time skips so far, so a resumed run reports the same
skips as an uninterrupted one. Each row's source image is in ``image_index``; ``labels`` (N,) int64
and the ``classes`` attr carry the class of each row when the source has classes (ImageFolder).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tokkit.data.sources import ImageSource

MAX_LISTED = 20  # paths named in a command's output
MAX_RECORDED = 1000  # paths named in a store's attrs (HDF5 attrs are small); the count is always exact


class SkipLog:
    """The read-time skips of a store being written, across resumed sessions."""

    def __init__(self, source: ImageSource, stored: dict[str, Any] | None = None):
        self.source = source
        stored = stored or {}
        self._earlier_count = int(stored.get("num_skipped_at_read", 0))  # sessions before this one
        self._earlier_paths = list(stored.get("skipped_at_read", []))

    def read_paths(self) -> list[str]:
        now = [u.path for _, u in sorted(self.source.skipped.items())]
        return self._earlier_paths + now

    def num_at_read(self) -> int:
        return self._earlier_count + len(self.source.skipped)

    def commit_attrs(self, source_next: int) -> dict[str, Any]:
        """Attrs to commit with the rows that reach source index ``source_next``."""
        return {
            "source_next": int(source_next),
            "num_skipped_at_read": self.num_at_read(),
            "skipped_at_read": self.read_paths()[:MAX_RECORDED],
        }

    def skipped(self) -> list[str]:
        """Every skipped path known (scan-time first, then read-time), for attrs and output."""
        return [u.path for u in self.source.unreadable] + self.read_paths()

    def num_skipped(self) -> int:
        return len(self.source.unreadable) + self.num_at_read()

    def finish_attrs(self) -> dict[str, Any]:
        return {
            "num_skipped": self.num_skipped(),
            "skipped": self.skipped()[:MAX_RECORDED],
            "verified": bool(self.source.verified),
        }

    def summary(self) -> dict[str, Any]:
        """``num_skipped`` and up to 20 ``skipped`` paths, for ``--json``."""
        return {"num_skipped": self.num_skipped(), "skipped": self.skipped()[:MAX_LISTED]}


def label_identity(labels: tuple[np.ndarray, list[str]] | None) -> dict[str, Any]:
    """The ``classes`` attr of a store whose rows carry labels."""
    return {} if labels is None else {"classes": list(labels[1])}

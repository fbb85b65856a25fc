"""Partial sums of a long evaluation pass on disk, so that a killed ``eval recon`` / ``eval stats`` resumes.

Layout: ``OUT.partial/rank{r}of{w}/`` per process (torchrun ranks each keep their own share):
- ``state.npz``: the run's key (JSON: everything that fixes the numbers), the next row to read, and the
  running sums / per-image values so far; rewritten atomically (temp file + rename);
- ``NAME_{k}.npy``: append-only chunks of kept feature vectors (KID needs them), written before the
  ``state.npz`` that counts them, so a kill between the two leaves chunks the state does not count.

A pass saves after a batch when ``TOKKIT_CHECKPOINT_SECONDS`` (default 60) have passed since its last save;
a rerun with ``--resume`` continues each rank at its recorded row, and the result equals an uninterrupted
run's (the batches are the same, the sums are the same sums). The folder is removed when the result is written.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from tokkit.errors import DataError, UsageError

DEFAULT_SECONDS = 60.0


def partial_dir(out: str | Path) -> Path:
    """Where the partial sums of a run writing ``out`` live."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def check_partial(out: str | Path | None, resume: bool) -> None:
    """A partial run at ``out`` is continued only when asked: refuse to silently start over (or to
    resume with nothing to write to)."""
    if out is None:
        if resume:
            raise UsageError("--resume needs --out: the partial sums are kept beside the result file")
        return
    root = partial_dir(out)
    if root.exists() and not resume:
        raise UsageError(f"a partial run of this result is at '{root}'",
                         hint="add --resume to continue it, or delete it")  # fmt: skip


class PartialRun:
    """This rank's partial sums of one pass (a no-op without a folder)."""

    def __init__(self, out: str | Path | None, key: dict[str, Any], rank: int = 0, world: int = 1) -> None:
        self.root = partial_dir(out) if out is not None else None
        self.dir = self.root / f"rank{rank}of{world}" if self.root is not None else None
        self.key = json.loads(json.dumps({**key, "processes": world}, sort_keys=True, default=str))
        self.interval = float(os.environ.get("TOKKIT_CHECKPOINT_SECONDS", DEFAULT_SECONDS))
        self.last = time.monotonic()
        self.chunks: dict[str, int] = {}  # chunk files counted by the last state.npz, per name

    @property
    def enabled(self) -> bool:
        return self.dir is not None

    def load(self) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, list[np.ndarray]]] | None:
        """(meta, arrays, chunks) of the last save, or None to start afresh. A save made with other
        settings is refused with the first differing field."""
        if self.dir is None or not (self.dir / "state.npz").is_file():
            if self.root is not None and self.root.is_dir() and any(self.root.iterdir()) and self.dir is not None:
                others = ", ".join(sorted(p.name for p in self.root.iterdir()))
                raise DataError(f"the partial run at '{self.root}' was made by other processes ({others})",
                                hint="resume with the same number of processes, or delete it")  # fmt: skip
            return None
        with np.load(self.dir / "state.npz", allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: np.array(z[k]) for k in z.files if k != "meta"}
        if meta["key"] != self.key:
            diff = next(k for k in sorted(set(meta["key"]) | set(self.key)) if meta["key"].get(k) != self.key.get(k))
            raise DataError(f"the partial run at '{self.root}' was made with another {diff}",
                            hint="rerun with the same settings, or delete it to start over")  # fmt: skip
        self.chunks = {k: int(v) for k, v in meta["chunks"].items()}
        chunks = {k: [np.load(self.dir / f"{k}_{i}.npy") for i in range(c)] for k, c in self.chunks.items()}
        return meta["state"], arrays, chunks

    def due(self) -> bool:
        return self.dir is not None and time.monotonic() - self.last >= self.interval

    def save(self, state: dict[str, Any], arrays: dict[str, np.ndarray], new_chunks: dict[str, np.ndarray]) -> None:
        """Write the chunks added since the last save, then the state that counts them (atomically)."""
        if self.dir is None:
            return
        from tokkit.io.files import write_bytes_atomic

        self.dir.mkdir(parents=True, exist_ok=True)
        for name, block in new_chunks.items():
            i = self.chunks.get(name, 0)
            np.save(self.dir / f"{name}_{i}.npy", block)
            self.chunks[name] = i + 1
        buf = io.BytesIO()
        meta = {"key": self.key, "state": state, "chunks": self.chunks}
        np.savez(buf, meta=np.array(json.dumps(meta, default=str)), **arrays)
        write_bytes_atomic(self.dir / "state.npz", buf.getvalue())
        self.last = time.monotonic()

    def finish(self) -> None:
        """Remove the partial sums once the result is written (rank 0 removes the whole folder)."""
        if self.root is not None and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)

"""Evaluation passes under torchrun: each rank measures a contiguous share of the batches, rank 0 merges.

The single-process pass defines the numbers: images are read in batches at the fixed source boundaries
``[j * batch_size, (j + 1) * batch_size)``. Under torchrun those batches (never padded, never repeated)
are split into ``world`` contiguous shares; each rank measures its share with the same code, so every
per-image value is the single-process value bit for bit (same batch, same kernels), and rank 0 joins the
shares in data order: per-image values concatenated, feature sums merged exactly (``fid.merge_accumulators``),
code counts added. ``num_images`` is N for any N and any number of processes.

The merged result is broadcast, so every rank returns the same dict; only rank 0 prints or writes files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class EvalShard:
    """This rank's rows [start, stop) of the first ``num_images`` images, and the group to gather over."""

    rank: int
    world: int
    start: int
    stop: int
    group: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` in rank order on rank 0 (None elsewhere); [obj] in one process."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] | None = [None] * self.world if self.rank == 0 else None
        dist.gather_object(obj, out, dst=0, group=self.group)
        return out

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` in rank order, on every rank."""
        return self.broadcast(self.gather(obj))

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (an exception raised on rank 0 is raised on every rank)."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]


def share(num_images: int, batch_size: int, rank: int, world: int) -> tuple[int, int]:
    """Rows [start, stop) of rank ``rank``: a contiguous share of the ceil(N / batch_size) batches
    (shares differ by at most one batch; a rank may get none when there are fewer batches than ranks)."""
    batches = -(-num_images // batch_size)
    bounds = np.linspace(0, batches, world + 1).round().astype(int)
    return min(int(bounds[rank]) * batch_size, num_images), min(int(bounds[rank + 1]) * batch_size, num_images)


def rank_device(device: Any) -> Any:
    """Under torchrun, rank r's CUDA work goes to cuda:LOCAL_RANK (one GPU per process)."""
    import torch

    if device.type == "cuda" and device.index is None and launched_by_torchrun():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """False on the ranks > 0 of a torchrun launch (they neither print nor write results)."""
    return int(os.environ.get("RANK", "0")) == 0


@contextlib.contextmanager
def eval_shard(device: Any, num_images: int, batch_size: int) -> Iterator[EvalShard]:
    """This process's share of an evaluation pass: all of it in one process; under torchrun, the
    rank's share (joining torchrun's process group for the duration, gathers over gloo)."""
    if not launched_by_torchrun():
        yield EvalShard(0, 1, 0, num_images)
        return
    from tokkit.io.sharded import sharded

    with sharded(device) as (rank, world, group):
        yield EvalShard(rank, world, *share(num_images, batch_size, rank, world), group)


def merge_skipped(source: Any, parts: list[dict[int, Any]]) -> None:
    """The images the ranks could not decode, recorded on rank 0's source (as one process records them)."""
    for part in parts:
        for i, u in sorted(part.items()):
            source.skipped[int(i)] = u

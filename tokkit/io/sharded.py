"""One store written by several processes (``torchrun``): extract and tokenize over rank shards.

The single-process run defines the bytes: rows are computed in whole batches of ``batch_rows``,
always at the same boundaries. Under torchrun the batches not yet in the store are split into
``world`` contiguous shares in that order; rank r computes its share, batch by batch, and rank 0
alone writes: every step, the ranks' batches are gathered to rank 0 (``gather_object`` over a
gloo group, also under NCCL: the rows go to the host file anyway), written at their rows and
flushed. Each batch is computed from the same images by the same code as in one process, so the
store is the single-process store, bit for bit (on CPU, with the same thread count per process).

Why one writer and not per-rank shard files merged at the end: HDF5 has no safe concurrent
writers without MPI, and a merge copies the whole store once more (ImageNet-scale DiGIT features
are hundreds of GB). Rank 0's writes are the same bytes a single process writes.

Resume: while incomplete, the store's ``written`` attr lists the finished row intervals (batches
finish out of order under several ranks); ``committed`` stays the finished prefix. A kill of any
rank (torchrun then stops the others) loses at most the batches in flight; ``--resume`` with any
number of processes recomputes exactly the missing batches. ``StoreWriter.finish`` drops ``written``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tokkit.io.h5store import StoreWriter, read_attr
from tokkit.progress import task


@dataclass
class Shard:
    """This rank's part of one sharded write."""

    rank: int
    world: int
    batches: list[int]  # batch numbers this rank computes, ascending
    steps: int  # collective steps every rank takes (the longest share)
    done_rows: int  # rows already in the store when this run started
    batch_rows: int
    num_rows: int
    group: Any = None
    writer: StoreWriter | None = None
    _steps_taken: int = field(default=0, repr=False)

    def runs(self) -> Iterator[tuple[int, int]]:
        """Contiguous row ranges [start, stop) of this rank's batches, in order."""
        b = self.batches
        i = 0
        while i < len(b):
            j = i
            while j + 1 < len(b) and b[j + 1] == b[j] + 1:
                j += 1
            yield b[i] * self.batch_rows, min((b[j] + 1) * self.batch_rows, self.num_rows)
            i = j + 1

    def put(self, start: int | None, arrays: dict[str, np.ndarray] | None) -> int:
        """One collective step: this rank's batch (or None when its share is used up) goes to rank 0,
        which writes every rank's batch of this step. Returns the rows for the progress bar: all
        rows written on rank 0 (it shows the whole job), this rank's own elsewhere."""
        self._steps_taken += 1
        item = None if start is None else (int(start), arrays)
        if self.world == 1:
            items = [item]
        else:
            import torch.distributed as dist

            items = [None] * self.world if self.rank == 0 else None
            dist.gather_object(item, items, dst=0, group=self.group)
        if self.rank != 0:
            return 0 if arrays is None else len(next(iter(arrays.values())))
        rows = 0
        for it in items or []:
            if it is not None:
                write_rows(self.writer, it[0], it[1])
                rows += len(next(iter(it[1].values())))
        return rows

    def drain(self) -> None:
        """Empty steps until every rank has taken ``steps``: the gathers stay matched."""
        while self._steps_taken < self.steps:
            self.put(None, None)


def written_intervals(writer: StoreWriter) -> list[list[int]]:
    attrs = writer.file.attrs
    if "written" in attrs:
        return [list(map(int, iv)) for iv in read_attr(attrs["written"])]
    return [[0, writer.committed]] if writer.committed else []


def _merge(intervals: list[list[int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def write_rows(writer: StoreWriter, start: int, arrays: dict[str, np.ndarray]) -> None:
    """Write rows [start, start + n) anywhere, flush, then record them as written: ``written``
    grows by the interval and ``committed`` is the finished prefix (what readers may trust)."""
    import json

    n = None
    for name, arr in arrays.items():
        n = len(arr) if n is None else n
        writer.file[name][start : start + len(arr)] = arr
    writer.file.flush()
    done = _merge([*written_intervals(writer), [start, start + (n or 0)]])
    writer.file.attrs["written"] = "json:" + json.dumps(done)
    writer.committed = done[0][1] if done and done[0][0] == 0 else 0
    writer.file.attrs["committed"] = writer.committed
    writer.file.flush()


def missing_batches(num_rows: int, batch_rows: int, written: list[list[int]]) -> list[int]:
    """Batches with a row not yet written, ascending."""
    nb = -(-num_rows // batch_rows)
    done = np.zeros(nb, bool)
    for a, b in written:
        # a batch is done when its whole row range lies in one written interval
        first = -(-a // batch_rows)
        last = b // batch_rows if b < num_rows else nb
        done[first:last] = True
    return [int(i) for i in np.flatnonzero(~done)]


def open_shard(
    make_writer: Callable[[], StoreWriter], num_rows: int, batch_rows: int, rank: int, world: int, group: Any
) -> Shard:
    """Rank 0 opens (or resumes) the store, reads what is written and splits the missing batches
    into contiguous shares; every rank gets the same plan. A failure on rank 0 (the file exists, a
    resume that does not match) is raised on every rank, so that none waits in a gather forever."""
    payload: list[Any] = [None]
    writer = None
    if rank == 0:
        try:
            writer = make_writer()
            written = written_intervals(writer)
            missing = [] if writer.done else missing_batches(num_rows, batch_rows, written)
            payload = [(missing, sum(b - a for a, b in written), None)]
        except BaseException as e:  # noqa: BLE001 (sent to the other ranks, then raised here too)
            payload = [([], 0, e)]
    if world > 1:
        import torch.distributed as dist

        dist.broadcast_object_list(payload, src=0, group=group)
    missing, done, err = payload[0]
    if err is not None:
        if writer is not None:
            writer.close()
        raise err
    bounds = np.linspace(0, len(missing), world + 1).round().astype(int)
    shares = [missing[bounds[r] : bounds[r + 1]] for r in range(world)]
    return Shard(rank, world, shares[rank], max(len(s) for s in shares), done, batch_rows, num_rows, group, writer)


@contextlib.contextmanager
def sharded(dev: Any) -> Iterator[tuple[int, int, Any]]:
    """(rank, world, gloo group) for the duration of one sharded write: joins torchrun's process
    group when launched by it (WORLD_SIZE > 1; left at the process's exit) and ends with a barrier;
    (0, 1, None) otherwise. The gathers use a gloo group even under NCCL: the rows go to the host file anyway."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:  # one process: no torch import for this
        yield 0, 1, None
        return
    import torch.distributed as dist

    from tokkit.train import distributed as tdist

    info = tdist.setup(dev.type)
    if info.initialized_here:  # kept for the process's later passes (a script may run several evaluations):
        import atexit  # a destroyed group cannot be joined again under the same torchrun rendezvous

        atexit.register(tdist.teardown, info)
    group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None
    yield info.rank, info.world, group
    tdist.barrier(info)  # rank 0 has finished the store when any rank returns


def write_batches(
    make_writer: Callable[[bool], StoreWriter], source: Any, size: int, batch_size: int, num_workers: int | None,
    encode: Callable[[Any, Any], dict[str, np.ndarray]], finish_attrs: dict[str, Any], dev: Any, what: str,
) -> int:  # fmt: skip
    """Write ``encode(images, source_indices)`` of every image batch of ``source`` into the store
    ``make_writer(growable)`` makes: one process (``write_single``) or torchrun ranks (``write_sharded``).
    Returns the source position the run started at (0, or where a resumed store stopped)."""
    import os

    write = write_sharded if int(os.environ.get("WORLD_SIZE", "1")) > 1 else write_single
    return write(make_writer, source, size, batch_size, num_workers, encode, finish_attrs, dev, what)


def write_single(
    make_writer: Any, source: Any, size: int, batch_size: int, num_workers: int | None, encode: Any,
    finish_attrs: dict[str, Any], dev: Any, what: str,
) -> int:  # fmt: skip
    """One process: batches at fixed source boundaries, rows compacted (an image that does not decode
    is left out and named); resumes at the recorded source position. Returns where it started."""
    from tokkit.data import iter_batches
    from tokkit.data.skips import SkipLog
    from tokkit.io.h5store import store_attrs

    n = len(source)
    with make_writer(True) as w:
        stored = store_attrs(w.file)
        skips = SkipLog(source, stored)
        start = int(stored.get("source_next", w.committed))  # source index the next batch starts at
        with task(what, total=n) as t:
            t.advance(start)
            for row, images, idx in iter_batches(source, size, batch_size, start=start, num_workers=num_workers):
                end = min(row + batch_size, n)
                w.write(w.committed, encode(images, idx), attrs=skips.commit_attrs(end))
                t.advance(end - row)
        if not w.done:
            w.finish(**finish_attrs, **skips.finish_attrs())
    return start


def write_sharded(
    make_writer: Any, source: Any, size: int, batch_size: int, num_workers: int | None, encode: Any,
    finish_attrs: dict[str, Any], dev: Any, what: str,
) -> int:  # fmt: skip
    """Under torchrun: each rank encodes a contiguous share of the missing batches, rank 0 writes
    them at their rows (``tokkit.io.sharded``). Rows are placed by position, so every image of a
    batch must decode (``--verify`` drops undecodable files before the split)."""
    from tokkit.data import iter_batches
    from tokkit.data.skips import SkipLog
    from tokkit.errors import DataError

    n = len(source)
    with sharded(dev) as (rank, world, group):
        shard = open_shard(lambda: make_writer(False), n, batch_size, rank, world, group)
        try:
            with task(what, total=n) as t:
                t.advance(shard.done_rows)
                for r0, r1 in shard.runs():
                    for row, images, idx in iter_batches(source, size, batch_size, r0, r1, num_workers=num_workers):
                        if len(idx) != min(row + batch_size, r1) - row:
                            raise DataError(
                                f"an image in rows {row}..{min(row + batch_size, r1) - 1} did not decode; under "
                                "torchrun rows are placed by position",
                                hint="rerun with --verify, which drops undecodable files before the split",
                            )
                        t.advance(shard.put(row, encode(images, idx)))
                shard.drain()
            if shard.writer is not None and not shard.writer.done:
                shard.writer.finish(**finish_attrs, **SkipLog(source, {}).finish_attrs())  # none skipped
        finally:
            if shard.writer is not None:
                shard.writer.close()
    return shard.done_rows

"""Shared by the import benchmarks: time functions side by side in one process, alternating, and summarise.

``alternate(fns, x, repeats, label)`` runs every function on the same input once per repeat, in turn (so a
drift in the machine's load hits them alike), recording wall and CPU seconds (CPU time is steadier on a
loaded machine); ``ratios(times, cpu, batch)`` turns them into the figures the benchmark pages quote
(medians, images/s, the reference's time over tokkit's: > 1 means tokkit is faster); ``build_tokkit`` imports a
file the way ``tokkit import`` does and loads it back; ``images`` is the seeded input batch. Scripts import it as
``from side_by_side import ...`` (``python benchmarks/X.py`` puts benchmarks/ on ``sys.path``).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any


def alternate(
    fns: dict[str, Callable[[Any], Any]], x: Any, repeats: int, label: str = ""
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, Any]]:
    """(wall seconds, CPU seconds, the last output) per function name, ``repeats`` alternated rounds, no grad."""
    import torch

    times: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    outs: dict[str, Any] = {}
    with torch.no_grad():
        for _ in range(repeats):
            for name, fn in fns.items():
                t0, c0 = time.perf_counter(), time.process_time()
                outs[name] = fn(x)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
                print(f"{label} {name}: {times[name][-1]:.2f} s wall, {cpu[name][-1]:.2f} s cpu",
                      file=sys.stderr, flush=True)  # fmt: skip
    return times, cpu, outs


def ratios(times: dict[str, list[float]], cpu: dict[str, list[float]], batch: int,
           reference: str = "reference", ours: str = "tokkit") -> dict[str, Any]:  # fmt: skip
    """Medians, images/s, and ``reference`` over ``ours``: of the medians, the median of each alternated pair's
    ratio (each pair ran under about the same load), and of the CPU-time medians."""
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "seconds": times,
        "median_s": med,
        "images_per_s": {k: batch / v for k, v in med.items()},
        "speed_ratio_tokkit_over_reference": med[reference] / med[ours],
        "pairwise_ratio_median": statistics.median([r / t for r, t in zip(times[reference], times[ours], strict=True)]),
        "cpu_s": cpu,
        "cpu_ratio_tokkit_over_reference": statistics.median(cpu[reference]) / statistics.median(cpu[ours]),
    }


def build_tokkit(family: str, src: Any, tmp: Any) -> tuple[Any, Callable[[Any], Any]]:
    """(tokenizer, encode + decode function) of ``src`` imported as ``family`` into ``tmp/tokkit`` and loaded back,
    so that tokkit runs what ``tokkit import`` writes."""
    from pathlib import Path

    from tokkit.importers import import_checkpoint
    from tokkit.io.checkpoint import load_tokenizer

    import_checkpoint(family, src, Path(tmp) / "tokkit")
    tok = load_tokenizer(Path(tmp) / "tokkit")
    return tok, lambda x: tok.decode(tok.encode(x))


def images(batch: int, size: int, seed: int = 5) -> Any:
    """(batch, 3, size, size) uniform in [-1, 1], the same for the same seed."""
    import torch

    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1

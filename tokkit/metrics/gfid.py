"""Scoring a generation probe: gFID with its two references under one protocol.

Every distance is a Frechet distance in the recon feature space (``--fid-features``) against the
real images of the probe's training split:

- ``gfid``: decoded samples vs the training images;
- ``gfid_heldout``: decoded samples vs the held-out images only (small data is memorised: a probe
  that copies its training set scores well on ``gfid`` and worse here);
- ``gfid_floor``: held-out real images vs the training images (what real data scores);
- ``rfid``: the tokenizer's reconstructions of the held-out images vs the training images (what a
  generator that reproduced this tokenizer's tokens perfectly would score; the standard rFID,
  reconstructions vs their own originals, is ``eval recon``'s).
Distances depend on n: the floor and rFID use the held-out n, gFID the number of samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from tokkit.metrics.fid import FeatureStats, StatsAccumulator, frechet_distance_stats


def _split_payload(source: Any, n: int, size: int, feats: Any, held: np.ndarray, which: str) -> dict[str, Any]:
    from tokkit.metrics.fid import real_stats_payload

    return {**real_stats_payload(source, n, size, feats), "split": which, "held_out": np.flatnonzero(held).tolist()}


def reference_stats(
    source: Any,
    n: int,
    size: int,
    feats: Any,
    held: np.ndarray,
    batch_size: int,
    reconstruct: Callable[[torch.Tensor], torch.Tensor] | None,
    use_cache: bool,
    shard: Any = None,
) -> dict[str, FeatureStats | None]:
    """One pass over the first n images: stats of the train split, the held-out split and the
    reconstructions of the held-out split (None without a decoder). Real stats are cached. Under
    torchrun (``shard``) each rank reads its share and every rank gets the merged statistics."""
    from tokkit.metrics.fid import load_cached_stats, merge_accumulators, save_cached_stats
    from tokkit.metrics.shards import is_main_process

    payloads = {w: _split_payload(source, n, size, feats, held, w) for w in ("train", "heldout")}
    cached = {w: load_cached_stats(p) if use_cache else None for w, p in payloads.items()}
    if cached["train"] is not None and cached["train"].features is None:  # KID needs the training vectors
        cached["train"] = None
    need_real = any(v is None for v in cached.values())
    rows = (shard.start, shard.stop) if shard is not None else (0, n)
    accs = _reference_pass(source, size, feats, held, batch_size, reconstruct, need_real, rows)
    if shard is not None and shard.world > 1:
        shares = shard.all_gather(accs)
        accs = {w: merge_accumulators([a[w] for a in shares]) for w in accs}
    out: dict[str, FeatureStats | None] = {}
    for w in ("train", "heldout"):
        out[w] = cached[w] if cached[w] is not None else (accs[w].stats() if accs[w].n >= 2 else None)
        if cached[w] is None and use_cache and out[w] is not None and is_main_process():
            try:
                save_cached_stats(payloads[w], out[w])  # type: ignore[arg-type]
            except OSError:
                pass  # a read-only cache must not fail the evaluation
    out["recon"] = accs["recon"].stats() if accs["recon"].n >= 2 else None  # a distance needs 2 images
    return out


def _reference_pass(source: Any, size: int, feats: Any, held: np.ndarray, batch_size: int,
                    reconstruct: Callable[[torch.Tensor], torch.Tensor] | None, need_real: bool,
                    rows: tuple[int, int]) -> dict[str, StatsAccumulator]:  # fmt: skip
    """Feature sums of rows [start, stop): train split, held-out split and held-out reconstructions."""
    from tokkit.data.dataset import iter_batches
    from tokkit.progress import task

    accs = {w: StatsAccumulator(keep_features=w == "train") for w in ("train", "heldout", "recon")}
    if not (need_real or reconstruct is not None):
        return accs
    with task(f"Reference features ({feats.spec})", total=rows[1] - rows[0]) as t, torch.no_grad():
        for _, x, idx in iter_batches(source, size, batch_size, *rows):
            h = torch.from_numpy(held[idx.numpy()])
            if need_real:
                f = feats(x)
                accs["train"].add(f[~h])
                accs["heldout"].add(f[h])
            if reconstruct is not None and bool(h.any()):
                accs["recon"].add(feats(reconstruct(x[h]).float().clamp(-1, 1)))
            t.advance(len(x))
    return accs


def sample_stats(batches: Iterator[torch.Tensor], feats: Any, keep_features: bool = False) -> FeatureStats:
    acc = StatsAccumulator(keep_features)
    for images in batches:
        acc.add(feats(images.float().clamp(-1, 1)))
    return acc.stats()


def generation_scores(ref: dict[str, FeatureStats | None], fake: FeatureStats) -> dict[str, float | None]:
    """The four distances; None where a set has fewer than 2 images (e.g. one held-out image)."""
    train, held, recon = ref["train"], ref["heldout"], ref["recon"]
    assert train is not None
    return {
        "gfid": frechet_distance_stats(fake, train),
        "gfid_heldout": None if held is None else frechet_distance_stats(fake, held),
        "gfid_floor": None if held is None else frechet_distance_stats(held, train),
        "rfid": None if recon is None else frechet_distance_stats(recon, train),
    }


PROTOCOL = {
    "gfid": "FD(decoded samples, training-split images)",
    "gfid_heldout": "FD(decoded samples, held-out images)",
    "gfid_floor": "FD(held-out images, training-split images): the real-data floor",
    "rfid": "FD(reconstructions of the held-out images, training-split images)",
}

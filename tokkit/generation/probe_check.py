"""Does the generation probe see the tokens? A ladder of tokenizers of known order, from one.

Level p of the ladder is the tokenizer with a fraction p of each image's tokens replaced by
uniformly random codes (seeded per image and level, on every scale of a multi-scale tokenizer), or
for continuous latents with Gaussian noise of variance p times the image's latent variance. A higher
level is a worse tokenizer by construction, so a probe budget that ranks the ladder in order, with
paired intervals that separate its rungs, can separate tokenizers that differ by that much; one
that does not is measuring something else (the decoder's blur, the sample noise).

Each rung runs the same probe (``evaluate_generation``) with the same seeds, real images and
sampling seeds, so adjacent rungs are compared pair by pair over seeds, as ``eval compare`` does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokkit.errors import UsageError
from tokkit.tokenizers._base import TokenBatch, Tokenizer

# what each rung reports per seed, and which way is worse (higher for all of them)
LADDER_MEASURES = ("gfid", "bits_per_token", "diffusion_loss")


def _image_seed(image: torch.Tensor, level: float, seed: int) -> int:
    """A seed from the image's pixels, the level and the user's seed: the same image is corrupted
    the same way whatever batch it arrives in."""
    h = hashlib.sha256(image.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    h.update(f"{level:.6f}/{seed}".encode())
    return int.from_bytes(h.digest()[:8], "little") & ((1 << 63) - 1)


def _corrupt_codes(maps: list[torch.Tensor], k: int, level: float, gens: list[torch.Generator]) -> list[torch.Tensor]:
    """maps: [(B, h, w)] per scale; a fraction ``level`` of the positions get a uniform code in [0, k)."""
    out = []
    for m in maps:
        m = m.clone()
        for i, g in enumerate(gens):
            mask = torch.rand(m.shape[1:], generator=g) < level
            codes = torch.randint(0, k, m.shape[1:], generator=g)
            m[i][mask.to(m.device)] = codes.to(m.device, m.dtype)[mask.to(m.device)]
        out.append(m)
    return out


def corrupting_encode(tok: Tokenizer, level: float, seed: int = 0) -> Callable[[torch.Tensor], TokenBatch]:
    """``tok.encode`` followed by the ladder's corruption at ``level`` (0 = the tokenizer itself)."""
    encode = tok.encode

    def enc(images: torch.Tensor) -> TokenBatch:
        t = encode(images)
        if level == 0:
            return t
        gens = [torch.Generator().manual_seed(_image_seed(x, level, seed)) for x in images]
        if t.kind == "continuous":
            z = t.latents.clone()  # (B, C, h, w)
            for i, g in enumerate(gens):
                noise = torch.randn(z.shape[1:], generator=g).to(z.device, z.dtype)
                z[i] += noise * (level**0.5) * z[i].std()
            return TokenBatch("continuous", latents=z)
        maps = _corrupt_codes(t.index_maps(), int(tok.codebook_size), level, gens)
        return TokenBatch(t.kind, indices=maps if t.kind == "multiscale" else maps[0])

    return enc


def _ladder_run(tok: Tokenizer, level: float, seed: int, evaluate: Callable[[Tokenizer], dict[str, Any]]) -> dict:
    """One rung: the probe on the tokenizer whose encode corrupts at ``level``."""
    original = tok.__dict__.get("encode")
    tok.encode = corrupting_encode(tok, level, seed)  # an instance attribute: the class is untouched
    try:
        return evaluate(tok)
    finally:
        if original is None:
            del tok.encode
        else:
            tok.encode = original


def _per_seed(result: dict[str, Any], key: str) -> list[float] | None:
    vals = [p.get(key) for p in result.get("per_seed", [])]
    return vals if vals and None not in vals else None


def _ladder_summary(levels: list[float], values: list[list[float]], measure: str) -> dict[str, Any]:
    """Spearman of level vs the per-level mean, and the paired decision of every pair of levels."""
    from scipy.stats import spearmanr

    from tokkit.stats import decide, describe, paired_diff_ci

    means = [float(np.mean(v)) for v in values]
    stds = [float(np.std(v, ddof=1)) if len(v) > 1 else None for v in values]
    rho = float(spearmanr(levels, means).statistic) if len(set(means)) > 1 else None
    pairs, resolved, needed = [], 0, []
    for i, j in combinations(range(len(levels)), 2):
        a, b = f"level {levels[j]:g}", f"level {levels[i]:g}"  # a = the more corrupted one
        d = decide(measure, a, b, paired_diff_ci(values[j], values[i]), higher_is_better=False)
        ok = d["verdict"] == b  # resolved, and in the known order: the less corrupted rung is better
        resolved += int(ok)
        if d["needed"] is not None:
            needed.append(d["needed"])
        pairs.append({**d, "in_order": ok, "text": describe(d)})
    return {"levels": levels, "mean": means, "std": stds, "per_seed": values, "spearman": rho,
            "resolved_pairs": resolved, "pairs": len(pairs), "decisions": pairs,
            "seeds_needed": max(needed) if needed else None}  # fmt: skip


def probe_check(
    tokenizer: str | Path | Tokenizer,
    data: Any,
    levels: Sequence[float] = (0.0, 0.1, 0.3, 0.6),
    seeds: int = 3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    **probe_kwargs: Any,
) -> dict[str, Any]:
    """Run the generation probe on the ladder built from ``tokenizer`` at ``levels``; returns
    {"levels", "gfid_mean", "gfid_std", "spearman", "resolved_pairs", "pairs", "seeds_needed",
    "measures", "rungs", "protocol"}. ``measures`` holds the same summary for every measure the probe
    reports per seed (gFID with ``samples``; held-out bits per token or the diffusion loss), so the
    cheapest one that resolves the ladder can be read off. ``probe_kwargs`` go to
    ``evaluate_generation`` (samples, probe, num_images, image_size, fid_features, ...)."""
    from tokkit.device import resolve_device
    from tokkit.generation.pipeline import evaluate_generation
    from tokkit.metrics import _common as C

    levels = _check_ladder(levels, seeds)
    dev = resolve_device(device) if isinstance(device, str) else device
    tok = C.resolve_tokenizer(tokenizer, dev)

    def evaluate(t: Tokenizer) -> dict[str, Any]:
        return evaluate_generation(t, data, seeds=seeds, seed=seed, device=dev, **probe_kwargs)

    rungs = [_ladder_run(tok, p, seed, evaluate) for p in levels]
    measures = {}
    for m in LADDER_MEASURES:
        vals = [_per_seed(r, m) for r in rungs]
        if all(v is not None for v in vals):
            measures[m] = _ladder_summary(levels, vals, m)  # type: ignore[arg-type]
    return _ladder_result(levels, measures, rungs, tok, seed, seeds, probe_kwargs.get("samples", 0))


def _check_ladder(levels: Sequence[float], seeds: int) -> list[float]:
    out = [float(x) for x in levels]
    increasing = all(a < b for a, b in zip(out, out[1:], strict=False))
    if len(out) < 2 or not increasing or out[0] < 0 or out[-1] > 1:
        raise UsageError(f"--levels must be at least 2 increasing fractions in [0, 1], got {out}")
    if seeds < 2:
        raise UsageError(f"probe-check needs at least 2 seeds to put an interval on a rung; got {seeds}")
    return out


def _ladder_result(levels: list[float], measures: dict[str, Any], rungs: list[dict[str, Any]], tok: Tokenizer,
                   seed: int, seeds: int, samples: int) -> dict[str, Any]:  # fmt: skip
    """The JSON of ``probe_check``: gFID's summary at the top level, every measure's under ``measures``."""
    from tokkit.metrics import _common as C

    g = measures.get("gfid", {})
    return {
        "levels": levels,
        "gfid_mean": g.get("mean"),
        "gfid_std": g.get("std"),
        "spearman": g.get("spearman"),
        "resolved_pairs": g.get("resolved_pairs"),
        "pairs": g.get("pairs"),
        "seeds_needed": g.get("seeds_needed"),
        "measures": measures,
        "rungs": [
            {
                "level": p,
                **{
                    k: r.get(k)
                    for k in (
                        "gfid",
                        "gfid_std",
                        "gfid_seeds",
                        "gfid_floor",
                        "rfid",
                        "bits_per_token",
                        "diffusion_loss",
                        "kid",
                    )
                },
            }
            for p, r in zip(levels, rungs, strict=True)
        ],  # fmt: skip
        "protocol": {
            "ladder": "level p: a fraction p of each image's tokens replaced by uniform random codes (every scale), "
            "or Gaussian noise of variance p x the image's latent variance for continuous latents; seeded per image",
            "tokenizer": C.tokenizer_info(tok),
            "seeds": list(range(seed, seed + seeds)),
            "probe": rungs[0]["probe"]["budget"],
            "order": rungs[0]["order"],
            "head": rungs[0]["head"],
            "num_images": rungs[0]["protocol"]["num_images"],
            "image_size": rungs[0]["protocol"]["image_size"],
            **{k: rungs[0]["protocol"].get(k) for k in C.FINGERPRINT_KEYS},  # the rungs share data and features
            "samples": samples,
            "resolved": "a pair of levels is resolved when the 95% paired interval over seeds excludes 0 and "
            "puts the less corrupted level ahead",
        },
    }

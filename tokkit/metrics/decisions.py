"""Paired decisions between the tokenizers of one comparison: which is better, by how much, how sure.

Every tokenizer of ``eval compare`` sees the same images, the same probe seeds and the same
sampling seeds, so each measure is compared pair by pair on paired data:

- image measures (PSNR, SSIM, LPIPS): a t interval over the per-image differences (unit: images);
- rFID (reconstructions vs their originals): a paired bootstrap over images, the same resampled
  images for both tokenizers and for the real set (``frechet_distance_samples``; unit: images);
- probe measures (gFID, KID of the samples): a t interval over the per-seed differences (unit: seeds);
- stability at the quoted noise level (change rate, raw and centred cosine of the quantized vectors,
  latent SNR): a t interval over the per-image differences (unit: images). The change rate is
  compared only between tokenizers of one kind (a token change rate and a latent's relative change
  are different quantities).

A verdict names a tokenizer only where the 95% interval excludes 0; otherwise "inconclusive" with
``needed``: the number of paired units (seeds or images) at which a difference of the observed size
would be resolved with 80% power (``tokkit.stats.seeds_needed``).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from tokkit.stats import decide, describe, paired_bootstrap, paired_diff_ci

IMAGE_MEASURES = ("psnr", "ssim", "lpips")
SEED_MEASURES = ("gfid", "kid")
STABILITY_MEASURES = ("change_rate", "cosine", "centred_cosine", "latent_snr_db")


def _finish(d: dict[str, Any], unit: str) -> dict[str, Any]:
    return {**d, "unit": unit, "text": describe(d, unit=unit)}


def _image_decisions(a: str, b: str, ra: dict[str, Any], rb: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for m in IMAGE_MEASURES:
        va, vb = ra.get(m), rb.get(m)
        if va is not None and vb is not None and len(va) == len(vb) and len(va) >= 2:
            out.append(_finish(decide(m, a, b, paired_diff_ci(va, vb)), "images"))
    return out


def _rfid_decision(a: str, b: str, ra: dict[str, Any], rb: dict[str, Any], n_boot: int, seed: int) -> list[dict]:
    from tokkit.metrics.frechet import frechet_distance_samples

    real, fa, fb = ra.get("real"), ra.get("recon"), rb.get("recon")
    if real is None or fa is None or fb is None or len(fa) != len(fb) or len(real) < 3:
        return []
    res = paired_bootstrap(
        lambda idx: frechet_distance_samples(fa[idx], real[idx]),
        lambda idx: frechet_distance_samples(fb[idx], real[idx]),
        len(real),
        n_boot=n_boot,
        seed=seed,
    )
    return [_finish(decide("rfid", a, b, res), "images")]


def _seed_decisions(a: str, b: str, ga: dict[str, Any], gb: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for m in SEED_MEASURES:
        va, vb = ga.get(f"{m}_seeds"), gb.get(f"{m}_seeds")
        if va and vb and len(va) == len(vb) and None not in va and None not in vb:
            out.append(_finish(decide(m, a, b, paired_diff_ci(va, vb)), "seeds"))
    return out


def _stability_decisions(a: str, b: str, sa: dict[str, Any], sb: dict[str, Any], same_kind: bool) -> list[dict]:
    out = []
    for m in STABILITY_MEASURES:
        if m == "change_rate" and not same_kind:
            continue
        va, vb = sa.get(m), sb.get(m)
        if va is not None and vb is not None and len(va) == len(vb) and len(va) >= 2:
            if not (np.isfinite(va).all() and np.isfinite(vb).all()):
                continue
            out.append(_finish(decide(m, a, b, paired_diff_ci(va, vb)), "images"))
    return out


def compare_decisions(
    labels: list[str],
    recon_arrays: dict[str, dict[str, Any]],
    generations: dict[str, dict[str, Any]],
    n_boot: int = 500,
    seed: int = 0,
    stability_arrays: dict[str, dict[str, Any]] | None = None,
    kinds: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One decision per pair of tokenizers (in ``labels`` order) and measure.

    ``recon_arrays[label]``: what ``evaluate_recon(arrays_out=...)`` filled; ``generations[label]``:
    the ``evaluate_generation`` result (its ``gfid_seeds`` / ``kid_seeds``); ``stability_arrays[label]``:
    the per-image stability values at the quoted perturbation (one entry of what
    ``evaluate_stability(arrays_out=...)`` filled); ``kinds[label]``: the tokenizer kind."""
    out: list[dict[str, Any]] = []
    stability_arrays, kinds = stability_arrays or {}, kinds or {}
    for a, b in combinations(labels, 2):
        ra, rb = recon_arrays.get(a, {}), recon_arrays.get(b, {})
        out += _image_decisions(a, b, ra, rb)
        out += _rfid_decision(a, b, ra, rb, n_boot, seed)
        out += _seed_decisions(a, b, generations.get(a, {}), generations.get(b, {}))
        same_kind = kinds.get(a) is not None and kinds.get(a) == kinds.get(b)
        out += _stability_decisions(a, b, stability_arrays.get(a, {}), stability_arrays.get(b, {}), same_kind)
    return out


def per_seed_kid(real: np.ndarray, fakes: list[np.ndarray], seed: int) -> list[float]:
    """KID of each seed's samples against the same real features (the paired unit for decisions)."""
    from tokkit.metrics.kid import kid_result

    return [kid_result(real, f, seed=seed).mean for f in fakes]

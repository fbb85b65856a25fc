"""Reconstruction quality: PSNR, SSIM, LPIPS, codebook usage and rFID in one pass over the data.

Conventions (written into every result's ``protocol``):
- images are compared on [0, 1] RGB with data_range 1, after the reconstruction is clamped and
  rounded to uint8 (what a PNG would store); the real images are the uint8 eval crops;
- PSNR: per image over all three RGB channels (not the Y channel), mean over images, capped at 100 dB;
- SSIM: Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, population
  covariances, per RGB channel then averaged, over the valid region (no padding). This equals
  ``skimage.metrics.structural_similarity(a, b, data_range=1, channel_axis=-1,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``;
- LPIPS: v0.1, AlexNet trunk, inputs in [-1, 1], spatial mean, mean over images.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokkit.errors import WeightsMissingError
from tokkit.losses.perceptual import ALEXNET_FILE  # noqa: F401  (re-exported: the file LPIPS needs)
from tokkit.tokenizers._base import Tokenizer

log = logging.getLogger("tokkit.metrics")

PSNR_CAP_DB = 100.0
SSIM_WINDOW = 11  # Gaussian window side (sigma 1.5), as scikit-image's gaussian_weights=True


# ---------------------------------------------------------------------------------------------
# PSNR / SSIM
# ---------------------------------------------------------------------------------------------
def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR (B,) in dB over all RGB channels. x, y: (B, 3, H, W) on [0, data_range]."""
    mse = (x.double() - y.double()).pow(2).flatten(1).mean(1)
    out = 10.0 * torch.log10(data_range**2 / mse.clamp_min(1e-30))
    return out.clamp(max=PSNR_CAP_DB)


def _gaussian_kernel(sigma: float = 1.5, truncate: float = 3.5) -> torch.Tensor:
    radius = int(truncate * sigma + 0.5)  # scipy.ndimage's radius rule -> 11 taps at sigma 1.5
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (B,): Gaussian window, per RGB channel, averaged. x, y: (B, C, H, W) on [0, data_range]."""
    from scipy.ndimage import correlate1d

    k = _gaussian_kernel(sigma).numpy()
    r = len(k) // 2
    a = x.detach().to("cpu", torch.float64).numpy()
    b = y.detach().to("cpu", torch.float64).numpy()
    h, w = a.shape[-2:]
    if h < len(k) or w < len(k):
        raise ValueError(f"SSIM needs images of at least {len(k)}x{len(k)} pixels, got {h}x{w}")

    def filt(z: np.ndarray) -> np.ndarray:  # separable Gaussian, then keep the valid region only
        z = correlate1d(correlate1d(z, k, axis=-2, mode="reflect"), k, axis=-1, mode="reflect")
        return z[..., r : h - r, r : w - r]

    ux, uy = filt(a), filt(b)
    vx = filt(a * a) - ux * ux
    vy = filt(b * b) - uy * uy
    vxy = filt(a * b) - ux * uy
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return torch.from_numpy(s.mean(axis=(2, 3)).mean(1))


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> [0, 1] float64 after rounding to uint8 levels (what a PNG stores)."""
    return ((images.detach().double().clamp(-1, 1) + 1) * 127.5).round() / 255.0


# ---------------------------------------------------------------------------------------------
# LPIPS
# ---------------------------------------------------------------------------------------------
class LPIPSMetric:
    """LPIPS v0.1 with the AlexNet trunk; the linear heads ship in the ``lpips`` package."""

    def __init__(self, device: torch.device | str = "cpu", weights: str | Path | None = None):
        from tokkit.losses.perceptual import find_alexnet, load_lpips

        hint = "pass --lpips-weights PATH or put it in $TOKKIT_WEIGHTS_DIR / the torch hub cache"
        path = find_alexnet(weights, download=True, hint=hint)  # one lookup (and at most one download)
        self.model = load_lpips(path, download=False, hint=hint).to(device)
        self.device = torch.device(device)
        self.weights_path = str(path)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y: (B, 3, H, W) in [-1, 1] -> (B,)."""
        return self.model(x.float().to(self.device), y.float().to(self.device)).flatten().double().cpu()


# (device, weights, where it was looked for) -> (metric, None) or (None, reason): one build per
# process; an unavailable LPIPS is remembered, not looked up (or downloaded) again per tokenizer
_LPIPS_CACHE: dict[tuple[str, ...], tuple[Any, str | None]] = {}


def create_lpips(device: torch.device | str = "cpu", weights: str | Path | None = None) -> tuple[Any, str | None]:
    """(metric, None) or (None, the reason it is unavailable); built once per process and place."""
    import os

    from tokkit.io.weights import hub_checkpoint_dir

    key = (str(device), str(weights), os.environ.get("TOKKIT_WEIGHTS_DIR", ""), str(hub_checkpoint_dir()))
    if key not in _LPIPS_CACHE:
        try:
            _LPIPS_CACHE[key] = (LPIPSMetric(device, weights), None)
        except WeightsMissingError as e:
            if weights is not None:  # a file the user named and that is wrong is an error, not a null
                raise
            _LPIPS_CACHE[key] = (None, e.one_line())
    return _LPIPS_CACHE[key]


# ---------------------------------------------------------------------------------------------
# Usage accumulation
# ---------------------------------------------------------------------------------------------
USAGE_KEYS = ("codebook_size", "utilization", "perplexity", "entropy_bits", "dead_codes")


class UsageAccumulator:
    """Code counts over the whole evaluation set, overall and per scale."""

    def __init__(self, tok: Tokenizer):
        self.kind = tok.kind
        self.k = tok.codebook_size
        self.per_scale: list[Any] = []
        self.shapes: list[tuple[int, int]] = []

    def add(self, maps: list[torch.Tensor]) -> None:
        if self.kind == "continuous" or not self.k:
            return
        from tokkit.metrics.usage import code_counts

        if not self.per_scale:
            self.per_scale = [code_counts([], self.k) for _ in maps]
            self.shapes = [tuple(m.shape[1:]) for m in maps]  # type: ignore[misc]
        for i, m in enumerate(maps):
            self.per_scale[i] += code_counts(m, self.k)

    def result(self) -> dict[str, Any] | None:
        from tokkit.metrics.usage import usage_from_counts

        if self.kind == "continuous" or not self.per_scale:
            return None
        total = sum(self.per_scale)
        out = {k: v for k, v in usage_from_counts(total).items() if k in USAGE_KEYS}
        if self.kind == "multiscale":
            scales = []
            for shape, counts in zip(self.shapes, self.per_scale, strict=True):
                u = usage_from_counts(counts)
                reachable = min(self.k, u["num_tokens"])  # a 1x1 scale over n images can use at most n codes
                scales.append(
                    {
                        "scale": f"{shape[0]}x{shape[1]}",
                        **{k: v for k, v in u.items() if k in USAGE_KEYS},
                        "num_tokens": u["num_tokens"],
                        "utilization_of_reachable": (self.k - u["dead_codes"]) / reachable if reachable else 0.0,
                    }
                )
            out["per_scale"] = scales
        return out

    def num_tokens(self) -> int:
        return int(sum(int(c.sum()) for c in self.per_scale)) if self.per_scale else 0


# ---------------------------------------------------------------------------------------------
# The evaluation
# ---------------------------------------------------------------------------------------------
def evaluate_recon(
    tokenizer: str | Path | Tokenizer,
    data: Any,
    num_images: int | None = None,
    image_size: int | None = None,
    batch_size: int = 16,
    fid_features: str | Any = "effnet-lite0",
    weights: str | Path | None = None,
    lpips_weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    use_cache: bool = True,
    compute_lpips: bool = True,
    allow_no_decoder: bool = False,
    lpips_metric: tuple[Any, str | None] | None = None,
    arrays_out: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Reconstruct the first ``num_images`` images and measure them.

    Returns {"psnr", "ssim", "lpips", "rfid", "rfid_features", "usage", "protocol"} plus the
    uncertainty keys (``UNCERTAINTY_KEYS``: 95% t intervals of the per-image means, KID with its std,
    n, the feature dimension and whether n <= it). ``arrays_out``, when given, is filled with the
    per-image values ("psnr", "ssim", "lpips": (n,) arrays) and the features ("real", "recon": (n, D)
    float32, row i of both from image i) that paired comparisons resample. ``fid_features``
    is a spec (``effnet-lite0``, ``inception``, an encoder) or a FidFeatures object; ``weights`` are
    the feature network's weights. Memory: the feature vectors of the real images and of the
    reconstructions are kept (KID needs them): 2 x n x D float32.
    A tokenizer without a pixel decoder is an error, unless ``allow_no_decoder``: then only the
    usage is measured and the image metrics are null with the reason (``eval compare`` uses this).
    """
    from tokkit.data.dataset import iter_batches
    from tokkit.metrics import _common as C
    from tokkit.metrics.fid import (
        StatsAccumulator,
        create_fid_features,
        frechet_distance_stats,
        load_cached_stats,
        real_stats_payload,
        save_cached_stats,
    )
    from tokkit.progress import task

    inputs = C.prepare(tokenizer, data, num_images, image_size, batch_size, device)
    tok, source, n, size, dev, warnings = (
        inputs.tok, inputs.source, inputs.num_images, inputs.image_size, inputs.device, inputs.warnings
    )  # fmt: skip
    if size < SSIM_WINDOW:
        from tokkit.errors import UsageError

        raise UsageError(f"--image-size {size} is below SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} window", hint="use >= 11")
    decodes = tok.can_decode
    if not decodes and not allow_no_decoder:
        from tokkit.errors import UsageError

        raise UsageError(
            f"tokenizer '{tok.architecture}' has no pixel decoder: reconstruction cannot be measured",
            hint="train a decoder for it first",
        )

    if not decodes:
        return _usage_only(tok, source, n, size, batch_size, dev, warnings, data)
    feats = create_fid_features(fid_features, weights, dev) if isinstance(fid_features, str) else fid_features
    payload = real_stats_payload(source, n, size, feats) if use_cache else None
    real_stats = load_cached_stats(payload) if payload is not None else None
    if real_stats is not None and real_stats.features is None:  # an entry from before KID: recompute
        real_stats = None
    real_acc = None if real_stats is not None else StatsAccumulator(keep_features=True)
    fake_acc = StatsAccumulator(keep_features=True)
    if not compute_lpips:
        lp, lpips_reason = None, "not requested"
    else:  # ``lpips_metric``: (metric, reason) from create_lpips, shared over several evaluations
        lp, lpips_reason = lpips_metric if lpips_metric is not None else create_lpips(dev, lpips_weights)
    usage = UsageAccumulator(tok)

    per_image: dict[str, list[np.ndarray]] = {"psnr": [], "ssim": [], "lpips": []}  # (B,) float64 blocks
    count = 0
    with task("Reconstructing", total=n) as t, torch.no_grad():
        for _, x, _ in iter_batches(source, size, batch_size, 0, n):
            x = x.to(dev)
            tokens = tok.encode(x)
            recon = tok.decode(tokens)
            C.check_batch_shapes(tok, x, tokens, recon)
            recon = recon.float().clamp(-1, 1)
            xu, ru = to_unit(x), to_unit(recon)
            per_image["psnr"].append(psnr(xu, ru).numpy())
            per_image["ssim"].append(ssim(xu, ru).numpy())
            recon_q = ru.float() * 2 - 1  # the uint8-rounded reconstruction, back in [-1, 1]
            if lp is not None:
                try:
                    per_image["lpips"].append(lp(x, recon_q).numpy())
                except RuntimeError as e:  # AlexNet's pooling cannot take very small images
                    lp, lpips_reason = None, f"LPIPS failed at {size}x{size}: {str(e).splitlines()[0]}"
            usage.add(tokens.index_maps())
            if real_acc is not None:
                real_acc.add(feats(x))
            fake_acc.add(feats(recon_q))
            count += len(x)
            t.advance(len(x))

    real_cached = real_stats is not None
    rfid = None
    if count < 2:  # one image has no covariance: the other metrics still stand
        warnings.append(f"rFID needs at least 2 images, got {count}: rfid is null")
    else:
        if real_stats is None:
            real_stats = real_acc.stats()  # type: ignore[union-attr]
            if payload is not None:
                try:
                    save_cached_stats(payload, real_stats)
                except OSError as e:
                    log.warning("could not cache feature statistics: %s", e)
        rank_warning = real_stats.rank_warning("rFID")
        if rank_warning:
            warnings.append(rank_warning)
        fake_stats = fake_acc.stats()
        rfid = frechet_distance_stats(real_stats, fake_stats)
    values = {k: np.concatenate(v) if v and (k != "lpips" or lp is not None) else None for k, v in per_image.items()}
    uncertainty = recon_uncertainty(values, real_stats, fake_stats if rfid is not None else None, count)
    if arrays_out is not None:
        arrays_out.update(values)
        arrays_out["real"] = real_stats.features if real_stats is not None else None
        arrays_out["recon"] = fake_stats.features if rfid is not None else None
    desc = feats.describe()
    protocol = {
        "num_images": count,
        "image_size": size,
        "transform": C.TRANSFORM,
        "data": getattr(source, "spec", str(data)),
        "tokenizer": C.tokenizer_info(tok),
        "pixels": "[0,1] RGB, reconstruction clamped and rounded to uint8, data_range 1",
        "psnr": f"per image over RGB channels (not Y), mean over images, capped at {PSNR_CAP_DB:g} dB",
        "ssim": "Gaussian 11x11 window sigma 1.5, K1 0.01, K2 0.03, population covariance, "
        "per RGB channel then mean, valid region (= skimage gaussian_weights=True, use_sample_covariance=False)",
        "lpips": {"net": "alex", "version": "0.1", "available": lp is not None, "reason": lpips_reason},
        "rfid": {
            "features": desc,
            "reference": f"the same {count} real images",
            "real_stats": "cache" if real_cached else "computed",
            "feature_dim": real_stats.dim if real_stats is not None else None,
        },
        "num_tokens": usage.num_tokens(),
        "batch_size": batch_size,
        "device": str(dev),
        "warnings": warnings,
    }
    return {
        "psnr": float(values["psnr"].mean()),
        "ssim": float(values["ssim"].mean()),
        "lpips": float(values["lpips"].mean()) if values["lpips"] is not None else None,
        "rfid": rfid,
        **uncertainty,
        "rfid_features": desc.get("spec", getattr(feats, "spec", str(fid_features))),
        "usage": usage.result(),
        "protocol": protocol,
    }


UNCERTAINTY_KEYS = ("psnr_ci", "ssim_ci", "lpips_ci", "kid", "kid_std", "kid_std_kind", "n", "feature_dim",
                    "rank_deficient")  # fmt: skip


def recon_uncertainty(values: dict[str, np.ndarray | None], real: Any, fake: Any, n: int) -> dict[str, Any]:
    """95% t intervals of the per-image means, KID (real vs reconstructions) with its std, and
    whether the Frechet distance came from a singular covariance (n <= feature dimension)."""
    from tokkit.metrics.kid import kid_result
    from tokkit.stats import mean_ci

    out: dict[str, Any] = {}
    for key in ("psnr", "ssim", "lpips"):
        v = values.get(key)
        out[f"{key}_ci"] = list(mean_ci(v)) if v is not None and len(v) >= 2 else None
    dim = real.dim if real is not None else None
    k = kid_result(real.features, fake.features) if fake is not None and real.features is not None else None
    out.update(kid=k.mean if k else None, kid_std=k.std if k else None, kid_std_kind=k.std_kind if k else None,
               n=n, feature_dim=dim, rank_deficient=None if dim is None else bool(n <= dim))  # fmt: skip
    return out


def _usage_only(
    tok: Tokenizer, source: Any, n: int, size: int, batch_size: int, dev: torch.device, warnings: list[str], data: Any
) -> dict[str, Any]:
    """Codebook usage of a tokenizer that cannot decode; the image metrics are null with the reason."""
    from tokkit.data.dataset import iter_batches
    from tokkit.metrics import _common as C
    from tokkit.progress import task

    usage = UsageAccumulator(tok)
    count = 0
    with task("Tokenizing", total=n) as t, torch.no_grad():
        for _, x, _ in iter_batches(source, size, batch_size, 0, n):
            tokens = tok.encode(x.to(dev))
            C.check_batch_shapes(tok, x, tokens, None)
            usage.add(tokens.index_maps())
            count += len(x)
            t.advance(len(x))
    reason = f"tokenizer '{tok.architecture}' has no pixel decoder: no reconstruction to measure"
    return {
        "psnr": None,
        "ssim": None,
        "lpips": None,
        "rfid": None,
        "rfid_features": None,
        **{k: None for k in UNCERTAINTY_KEYS},
        "n": count,
        "usage": usage.result(),
        "protocol": {
            "num_images": count,
            "image_size": size,
            "transform": C.TRANSFORM,
            "data": getattr(source, "spec", str(data)),
            "tokenizer": C.tokenizer_info(tok),
            "recon_unavailable": reason,
            "lpips": {"net": "alex", "version": "0.1", "available": False, "reason": reason},
            "num_tokens": usage.num_tokens(),
            "batch_size": batch_size,
            "device": str(dev),
            "warnings": warnings,
        },
    }

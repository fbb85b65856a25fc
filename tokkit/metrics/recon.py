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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokkit.errors import WeightsMissingError
from tokkit.losses.perceptual import ALEXNET_FILE  # noqa: F401  (re-exported: the file LPIPS needs)
from tokkit.threads import thread_settings
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
    """Per-image SSIM (B,): Gaussian window, per RGB channel, averaged. x, y: (B, C, H, W) on [0, data_range].

    Images are independent, so they go in chunks of 4 (their float64 maps stay in cache: 1.5x) over
    torch's thread count (scipy's filters release the GIL): 2.6x on 2 cores, bit-identical per image."""
    from concurrent.futures import ThreadPoolExecutor

    k = _gaussian_kernel(sigma).numpy()
    a = x.detach().to("cpu", torch.float64).numpy()
    b = y.detach().to("cpu", torch.float64).numpy()
    h, w = a.shape[-2:]
    if h < len(k) or w < len(k):
        raise ValueError(f"SSIM needs images of at least {len(k)}x{len(k)} pixels, got {h}x{w}")
    chunks = [slice(i, i + 4) for i in range(0, len(a), 4)]
    workers = max(1, min(torch.get_num_threads(), len(chunks)))
    if workers == 1:
        parts = [_ssim_chunk(a[c], b[c], k, data_range) for c in chunks]
    else:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda c: _ssim_chunk(a[c], b[c], k, data_range), chunks))
    return torch.from_numpy(np.concatenate(parts)) if parts else torch.zeros(0, dtype=torch.float64)


def _ssim_chunk(a: np.ndarray, b: np.ndarray, k: np.ndarray, data_range: float) -> np.ndarray:
    """SSIM (b,) of float64 images (b, C, H, W); the valid region of the separable Gaussian filter."""
    from scipy.ndimage import correlate1d

    r, (h, w) = len(k) // 2, a.shape[-2:]

    def filt(z: np.ndarray) -> np.ndarray:  # separable Gaussian, then keep the valid region only
        z = correlate1d(correlate1d(z, k, axis=-2, mode="reflect"), k, axis=-1, mode="reflect")
        return z[..., r : h - r, r : w - r]

    ux, uy = filt(a), filt(b)
    vx = filt(a * a) - ux * ux
    vy = filt(b * b) - uy * uy
    vxy = filt(a * b) - ux * uy
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(axis=(2, 3)).mean(1)


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
@dataclass
class ReconValues:
    """What one reconstruction pass measured, per image: ``psnr`` / ``ssim`` / ``lpips`` hold one (B,) float64
    tensor per batch, in data order (``per_image`` joins them into (N,)). The rFID features stay running sums
    in ``RFIDSide`` so that memory is flat in the number of images."""

    psnr: list[torch.Tensor] = field(default_factory=list)
    ssim: list[torch.Tensor] = field(default_factory=list)
    lpips: list[torch.Tensor] = field(default_factory=list)
    count: int = 0

    def per_image(self, name: str) -> torch.Tensor:
        """(N,) values of ``name`` ("psnr", "ssim" or "lpips")."""
        parts = getattr(self, name)
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)

    def mean(self, name: str) -> float:
        # batch sums added in data order: the same float as the running sum this replaced
        total = 0.0
        for part in getattr(self, name):
            total += float(part.sum())
        return total / self.count


@dataclass
class RFIDSide:
    """The feature network and the real / reconstructed feature statistics of one rFID."""

    feats: Any
    payload: Any  # the cache key of the real statistics, None without the cache
    real_stats: Any  # FeatureStats read from the cache, else None until the pass ends
    real_acc: Any  # StatsAccumulator of the real features when they are not cached
    fake_acc: Any
    real_cached: bool

    def add(self, x: torch.Tensor, recon_q: torch.Tensor) -> None:
        """x, recon_q: (B, 3, S, S) in [-1, 1]."""
        if self.real_acc is not None:
            self.real_acc.add(self.feats(x))
        self.fake_acc.add(self.feats(recon_q))


@dataclass
class _LPIPSState:
    metric: Any
    reason: str | None


def _check_recon_inputs(tok: Tokenizer, size: int, allow_no_decoder: bool) -> None:
    from tokkit.errors import UsageError

    if size < SSIM_WINDOW:
        raise UsageError(f"--image-size {size} is below SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} window", hint="use >= 11")
    if not tok.can_decode and not allow_no_decoder:
        raise UsageError(
            f"tokenizer '{tok.architecture}' has no pixel decoder: reconstruction cannot be measured",
            hint="train a decoder for it first",
        )


def _rfid_side(
    fid_features: str | Any,
    weights: str | Path | None,
    dev: torch.device,
    source: Any,
    n: int,
    size: int,
    use_cache: bool,
) -> RFIDSide:
    """The feature network, and the real statistics from the cache when they are there."""
    from tokkit.metrics.fid import StatsAccumulator, create_fid_features, load_cached_stats, real_stats_payload

    feats = create_fid_features(fid_features, weights, dev) if isinstance(fid_features, str) else fid_features
    payload = real_stats_payload(source, n, size, feats) if use_cache else None
    real_stats = load_cached_stats(payload) if payload is not None else None
    if real_stats is not None and real_stats.features is None:  # an entry from before KID: recompute
        real_stats = None
    real_acc = None if real_stats is not None else StatsAccumulator(keep_features=True)
    return RFIDSide(feats, payload, real_stats, real_acc, StatsAccumulator(keep_features=True), real_stats is not None)


def _lpips_state(
    compute_lpips: bool, lpips_metric: tuple[Any, str | None] | None, dev: torch.device, lpips_weights: Any
) -> _LPIPSState:
    if not compute_lpips:
        return _LPIPSState(None, "not requested")
    # ``lpips_metric``: (metric, reason) from create_lpips, shared over several evaluations
    return _LPIPSState(*(lpips_metric if lpips_metric is not None else create_lpips(dev, lpips_weights)))


def _score_batch(
    tok: Tokenizer, x: torch.Tensor, lp: _LPIPSState, size: int, values: ReconValues
) -> tuple[Any, torch.Tensor]:
    """Encode, decode and measure one batch x (B, 3, S, S) in [-1, 1]; append its per-image values.

    Returns (tokens, the uint8-rounded reconstruction back in [-1, 1])."""
    from tokkit.metrics import _common as C

    tokens = tok.encode(x)
    recon = tok.decode(tokens)
    C.check_batch_shapes(tok, x, tokens, recon)
    recon = recon.float().clamp(-1, 1)
    xu, ru = to_unit(x), to_unit(recon)
    values.psnr.append(psnr(xu, ru))
    values.ssim.append(ssim(xu, ru))
    recon_q = ru.float() * 2 - 1
    if lp.metric is not None:
        try:
            values.lpips.append(lp.metric(x, recon_q))
        except RuntimeError as e:  # AlexNet's pooling cannot take very small images
            lp.metric, lp.reason = None, f"LPIPS failed at {size}x{size}: {str(e).splitlines()[0]}"
    values.count += len(x)
    return tokens, recon_q


def _reconstruct_all(
    tok: Tokenizer,
    inputs: Any,
    batch_size: int,
    side: RFIDSide,
    lp: _LPIPSState,
    usage: UsageAccumulator,
    rows: tuple[int, int] | None = None,
    partial: Any = None,
) -> ReconValues:
    """One pass over rows [start, stop) of the first N images (all of them by default): per-image values,
    code usage and the rFID statistics. ``partial`` (a ``PartialRun``): resume from its saved sums, and
    save them as the pass goes."""
    from tokkit.data.dataset import iter_batches
    from tokkit.progress import task

    values = ReconValues()
    size, dev = inputs.image_size, inputs.device
    start, stop = rows if rows is not None else (0, inputs.num_images)
    begin = _restore_recon(partial, values, side, usage, lp, inputs.source, start) if partial is not None else start
    with task("Reconstructing", total=stop - start) as t, torch.no_grad():
        t.advance(begin - start)
        for row, x, _ in iter_batches(inputs.source, size, batch_size, begin, stop):
            x = x.to(dev)
            tokens, recon_q = _score_batch(tok, x, lp, size, values)
            usage.add(tokens.index_maps())
            side.add(x, recon_q)
            t.advance(len(x))
            if partial is not None and partial.due():
                _save_recon(partial, min(row + batch_size, stop), values, side, usage, lp, inputs.source)
    return values


def _save_recon(partial: Any, next_row: int, values: ReconValues, side: RFIDSide, usage: UsageAccumulator,
                lp: _LPIPSState, source: Any) -> None:  # fmt: skip
    """The pass so far: per-image values, feature sums (+ the kept vectors added since the last save), counts."""
    arrays = {name: values.per_image(name).numpy() for name in ("psnr", "ssim", "lpips")}
    new: dict[str, np.ndarray] = {}
    for name, acc in (("real", side.real_acc), ("fake", side.fake_acc)):
        if acc is None:
            continue
        arrays.update(acc.state_arrays(name))
        done = partial.chunks.get(name, 0)
        if acc.kept and len(acc.kept) > done:  # one chunk per save: the blocks since the last one
            new[name] = np.concatenate(acc.kept[done:])
            acc.kept[done:] = [new[name]]
    arrays.update({f"usage_{i}": c for i, c in enumerate(usage.per_scale)})
    state = {"next_row": next_row, "count": values.count, "usage_shapes": [list(s) for s in usage.shapes],
             "lpips_failed": lp.reason if lp.metric is None and (lp.reason or "").startswith("LPIPS failed") else None,
             "skipped": {str(i): [u.path, u.reason] for i, u in source.skipped.items()}}  # fmt: skip
    partial.save(state, arrays, new)


def _restore_recon(partial: Any, values: ReconValues, side: RFIDSide, usage: UsageAccumulator, lp: _LPIPSState,
                   source: Any, start: int) -> int:  # fmt: skip
    """Load a saved pass into the accumulators; the row to continue at (``start`` when nothing is saved)."""
    from tokkit.data.sources import Unreadable
    from tokkit.errors import DataError
    from tokkit.metrics.fid import StatsAccumulator

    got = partial.load()
    if got is None:
        return start
    state, arrays, chunks = got
    for name in ("psnr", "ssim", "lpips"):
        if len(arrays[name]):
            getattr(values, name).append(torch.from_numpy(arrays[name]))
    values.count = int(state["count"])
    if side.real_acc is not None and "real_shift" not in arrays and values.count:
        raise DataError(f"the partial run at '{partial.root}' used cached real-image statistics that are gone",
                        hint="delete it to start over")  # fmt: skip
    if side.real_acc is not None:
        side.real_acc = StatsAccumulator.restore(arrays, "real", chunks.get("real", []))
    side.fake_acc = StatsAccumulator.restore(arrays, "fake", chunks.get("fake", []))
    usage.per_scale = [arrays[f"usage_{i}"] for i in range(len(state["usage_shapes"]))]
    usage.shapes = [tuple(s) for s in state["usage_shapes"]]
    if state["lpips_failed"]:
        lp.metric, lp.reason = None, state["lpips_failed"]
    for i, (path, reason) in state["skipped"].items():
        source.skipped[int(i)] = Unreadable(path, reason)
    return int(state["next_row"])


def _rfid(side: RFIDSide, count: int, warnings: list[str]) -> float | None:
    """The Fréchet distance of the pass (None under 2 images); computes and caches the real statistics."""
    from tokkit.metrics.fid import frechet_distance_stats, save_cached_stats

    if count < 2:  # one image has no covariance: the other metrics still stand
        warnings.append(f"rFID needs at least 2 images, got {count}: rfid is null")
        return None
    if side.real_stats is None:
        side.real_stats = side.real_acc.stats()
        if side.payload is not None:
            try:
                save_cached_stats(side.payload, side.real_stats)
            except OSError as e:
                log.warning("could not cache feature statistics: %s", e)
    rank_warning = side.real_stats.rank_warning("rFID")
    if rank_warning:
        warnings.append(rank_warning)
    return frechet_distance_stats(side.real_stats, side.fake_acc.stats())


def _recon_protocol(
    inputs: Any, data: Any, batch_size: int, values: ReconValues, side: RFIDSide, lp: _LPIPSState, usage: Any
) -> dict[str, Any]:
    from tokkit.metrics import _common as C

    count = values.count
    return {
        "num_images": count,
        "image_size": inputs.image_size,
        "transform": C.transform_name(inputs.source),
        **C.fingerprints(inputs.source, count, side.feats),
        "data": getattr(inputs.source, "spec", str(data)),
        "tokenizer": C.tokenizer_info(inputs.tok),
        "pixels": "[0,1] RGB, reconstruction clamped and rounded to uint8, data_range 1",
        "psnr": f"per image over RGB channels (not Y), mean over images, capped at {PSNR_CAP_DB:g} dB",
        "ssim": "Gaussian 11x11 window sigma 1.5, K1 0.01, K2 0.03, population covariance, "
        "per RGB channel then mean, valid region (= skimage gaussian_weights=True, use_sample_covariance=False)",
        "lpips": {"net": "alex", "version": "0.1", "available": lp.metric is not None, "reason": lp.reason},
        "rfid": {
            "features": side.feats.describe(),
            "reference": f"the same {count} real images",
            "real_stats": "cache" if side.real_cached else "computed",
            "feature_dim": side.real_stats.dim if side.real_stats is not None else None,
        },
        "num_tokens": usage.num_tokens(),
        "batch_size": batch_size,
        "device": str(inputs.device),
        "threads": thread_settings(),
        "warnings": inputs.warnings,
    }


def _summarise_recon(
    values: ReconValues, rfid: float | None, side: RFIDSide, lp: _LPIPSState, usage: Any, fid_features: Any
) -> dict[str, Any]:
    """The result's headline numbers: means of the per-image values, rFID, usage (protocol added by the caller)."""
    desc = side.feats.describe()
    return {
        "psnr": values.mean("psnr"),
        "ssim": values.mean("ssim"),
        "lpips": values.mean("lpips") if lp.metric is not None else None,
        "rfid": rfid,
        "rfid_features": desc.get("spec", getattr(side.feats, "spec", str(fid_features))),
        "usage": usage.result(),
    }


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
    crop: str | None = None,
    ref_stats: str | Path | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    allow_gfid_ref: bool = False,
) -> dict[str, Any]:
    """Reconstruct the first ``num_images`` images and measure them (``crop``: center | adm).

    ``ref_stats``: also ``rfid_ref``, the FD of the reconstructions against that statistics file (a
    generation reference batch such as ADM's is refused unless ``allow_gfid_ref``).

    ``out``: also write the result there (JSON, atomically), keeping partial sums in ``OUT.partial/`` while
    the pass runs (``tokkit.metrics.partial``); ``resume`` continues a killed run from them. Under torchrun
    each process measures a contiguous share of the batches (``tokkit.metrics.shards``).

    Returns {"psnr", "ssim", "lpips", "rfid", "rfid_features", "usage", "protocol"} plus the
    uncertainty keys (``UNCERTAINTY_KEYS``: 95% t intervals of the per-image means, KID with its std,
    n, the feature dimension and whether n <= it). ``arrays_out``, when given, is filled with the
    per-image values ("psnr", "ssim", "lpips": (n,) arrays) and the features ("real", "recon": (n, D)
    float32, row i of both from image i) that paired comparisons resample. ``fid_features``
    is a spec (``effnet-lite0``, ``inception``, an encoder) or a FidFeatures object; ``weights`` are
    the feature network's weights. Memory: the per-image values and the feature vectors of the real
    images and of the reconstructions are kept (KID needs them): 2 x n x D float32.
    A tokenizer without a pixel decoder is an error, unless ``allow_no_decoder``: then only the
    usage is measured and the image metrics are null with the reason (``eval compare`` uses this).
    """
    from tokkit.metrics import _common as C

    inputs = C.prepare(tokenizer, data, num_images, image_size, batch_size, device, crop)
    _check_recon_inputs(inputs.tok, inputs.image_size, allow_no_decoder)
    if not inputs.tok.can_decode:
        return _usage_only(inputs, batch_size, data)
    from tokkit.metrics.partial import PartialRun, check_partial
    from tokkit.metrics.shards import eval_shard

    check_partial(out, resume)
    with eval_shard(inputs.device, inputs.num_images, batch_size) as shard:  # all rows, or this rank's share
        key = _recon_key(inputs, batch_size, fid_features, weights, compute_lpips, (shard.start, shard.stop))
        partial = PartialRun(out, key, shard.rank, shard.world)
        measured = measure_recon(inputs, batch_size, fid_features, weights, lpips_weights, use_cache,
                                 compute_lpips, lpips_metric, (shard.start, shard.stop), partial)  # fmt: skip
        if shard.world > 1:
            _join_shares(shard, *measured, inputs.source)
        result, arrays = None, ({} if arrays_out is not None else None)
        if shard.is_main:
            result = _recon_result(inputs, data, batch_size, fid_features, ref_stats, allow_gfid_ref, arrays,
                                   *measured)  # fmt: skip
            result["protocol"]["processes"] = shard.world
            if out is not None:  # the result first, then the partial sums go: a kill never loses both
                from tokkit.io.checkpoint import write_json_atomic

                write_json_atomic(Path(out), result)
                partial.finish()
        result, arrays = shard.broadcast((result, arrays))  # every rank: the same result (and per-image arrays)
        if arrays_out is not None:
            arrays_out.update(arrays)
        return result


def _recon_key(inputs: Any, batch_size: int, fid_features: Any, weights: Any, lpips: bool,
               rows: tuple[int, int]) -> dict[str, Any]:  # fmt: skip
    """What fixes a pass's numbers: a partial run saved under another key is not resumed."""
    from tokkit.metrics import _common as C

    path = getattr(inputs.tok, "checkpoint_path", None)
    config = Path(path) / "config.json" if path else None
    return {"data": inputs.source.identity(), "num_images": inputs.num_images, "image_size": inputs.image_size,
            "batch_size": batch_size, "rows": list(rows), "tokenizer": C.tokenizer_info(inputs.tok),
            "tokenizer_config": config.read_text() if config is not None and config.is_file() else None,
            "fid_features": fid_features if isinstance(fid_features, str) else getattr(fid_features, "spec", None),
            "fid_weights": str(weights) if weights else None, "lpips": lpips}  # fmt: skip


def _recon_result(
    inputs: Any, data: Any, batch_size: int, fid_features: Any, ref_stats: Any, allow_gfid_ref: bool,
    arrays_out: Any, values: ReconValues, side: RFIDSide, lp: _LPIPSState, usage: UsageAccumulator,
) -> dict[str, Any]:  # fmt: skip
    """The result of a finished pass: rFID, the intervals, the protocol and ``rfid_ref``."""
    rfid = _rfid(side, values.count, inputs.warnings)
    uncertainty = _uncertainty(values, side, lp, rfid is not None, arrays_out)
    out = {
        **_summarise_recon(values, rfid, side, lp, usage, fid_features),
        **uncertainty,
        "protocol": _recon_protocol(inputs, data, batch_size, values, side, lp, usage),
    }
    if ref_stats is not None:  # a separate key: rfid always compares with the same images' originals
        out["rfid_ref"], out["protocol"]["rfid_ref"] = _rfid_ref(ref_stats, side, inputs, batch_size, allow_gfid_ref)
    return out


def _rfid_ref(ref_stats: Any, side: RFIDSide, inputs: Any, batch_size: int, allow_gfid_ref: bool) -> tuple[Any, Any]:
    """(FD of the reconstructions against the file, what the file was). A generation reference batch (ADM's
    ``VIRTUAL_imagenet256_labeled.npz``) is refused unless allowed: rFID scored against it instead of the
    reconstructed images' originals is the classic irreproducible rFID (LlamaGen#34)."""
    from tokkit.errors import UsageError
    from tokkit.metrics.ref_stats import ref_fd

    info = ref_fd(ref_stats, side.feats, side.fake_acc.stats(), batch_size, inputs.device)
    if info["kind"].startswith("adm") and not allow_gfid_ref:
        raise UsageError(f"'{ref_stats}' is a generation reference batch (ADM arr_0): rFID compares reconstructions "
                         "with their own originals", hint="write the originals' statistics with tokkit eval stats, "
                         "or pass --allow-gfid-ref to score against it anyway (reported as rfid_ref)")  # fmt: skip
    theirs = info.get("data_fingerprint")
    if theirs is not None and theirs != (mine := inputs.source.fingerprint(inputs.num_images)):
        inputs.warnings.append(f"rfid_ref: '{ref_stats}' was made from other images ({theirs}) than the ones "
                               f"reconstructed ({mine})")  # fmt: skip
    return info.pop("fd"), info


def measure_recon(
    inputs: Any,
    batch_size: int,
    fid_features: str | Any,
    weights: str | Path | None,
    lpips_weights: str | Path | None,
    use_cache: bool,
    compute_lpips: bool,
    lpips_metric: tuple[Any, str | None] | None,
    rows: tuple[int, int] | None = None,
    partial: Any = None,
) -> tuple[ReconValues, RFIDSide, _LPIPSState, UsageAccumulator]:
    """The per-image step of ``evaluate_recon`` on prepared ``inputs`` (``_common.prepare``) over rows
    [start, stop) (all by default): the per-image values, the rFID feature statistics, the LPIPS state
    (metric or the reason it is missing) and the code usage."""
    tok, dev = inputs.tok, inputs.device
    side = _rfid_side(fid_features, weights, dev, inputs.source, inputs.num_images, inputs.image_size, use_cache)
    lp = _lpips_state(compute_lpips, lpips_metric, dev, lpips_weights)
    usage = UsageAccumulator(tok)
    values = _reconstruct_all(tok, inputs, batch_size, side, lp, usage, rows, partial)
    return values, side, lp, usage


@dataclass
class _ReconShare:
    """What one rank measured, sent to rank 0 (the LPIPS and feature networks stay behind)."""

    values: ReconValues
    real_acc: Any
    fake_acc: Any
    lpips_failed: str | None  # the reason, when LPIPS failed on this rank's images
    counts: list[Any]
    shapes: list[Any]
    skipped: dict[int, Any]


def _join_shares(shard: Any, values: ReconValues, side: RFIDSide, lp: _LPIPSState, usage: UsageAccumulator,
                 source: Any) -> None:  # fmt: skip
    """Under torchrun: every rank's share gathered to rank 0 and joined there in data order, in place
    (per-image values concatenated, feature sums merged exactly, code counts added)."""
    from tokkit.metrics.fid import merge_accumulators
    from tokkit.metrics.shards import merge_skipped

    failed = lp.reason if lp.metric is None and (lp.reason or "").startswith("LPIPS failed") else None
    mine = _ReconShare(values, side.real_acc, side.fake_acc, failed, usage.per_scale, usage.shapes,
                       dict(source.skipped))  # fmt: skip
    shares = shard.gather(mine)
    if not shard.is_main:
        return
    for name in ("psnr", "ssim", "lpips"):
        setattr(values, name, [t for s in shares for t in getattr(s.values, name)])
    values.count = sum(s.values.count for s in shares)
    failed = next((s.lpips_failed for s in shares if s.lpips_failed), None)
    if failed is not None:  # LPIPS of part of the images is no LPIPS: null for all, with the reason
        lp.metric, lp.reason, values.lpips = None, failed, []
    counted = [s for s in shares if s.counts]
    if counted:
        usage.per_scale = [sum(c) for c in zip(*(s.counts for s in counted), strict=True)]
        usage.shapes = counted[0].shapes
    merge_skipped(source, [s.skipped for s in shares])
    if side.real_acc is not None:
        side.real_acc = merge_accumulators([s.real_acc for s in shares])
    side.fake_acc = merge_accumulators([s.fake_acc for s in shares])


UNCERTAINTY_KEYS = ("psnr_ci", "ssim_ci", "lpips_ci", "kid", "kid_std", "kid_std_kind", "n", "feature_dim",
                    "rank_deficient")  # fmt: skip


def _uncertainty(
    values: ReconValues, side: RFIDSide, lp: _LPIPSState, have_rfid: bool, arrays_out: dict[str, Any] | None
) -> dict[str, Any]:
    """The per-image arrays (into ``arrays_out``) and what ``recon_uncertainty`` makes of them."""
    arrays = {k: values.per_image(k).numpy() for k in ("psnr", "ssim", "lpips")}
    if lp.metric is None:
        arrays["lpips"] = None
    fake = side.fake_acc.stats() if have_rfid else None
    if arrays_out is not None:
        arrays_out.update(arrays, real=side.real_stats.features if have_rfid else None,
                          recon=fake.features if fake is not None else None)  # fmt: skip
    return recon_uncertainty(arrays, side.real_stats, fake, values.count)


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


def _usage_only(inputs: Any, batch_size: int, data: Any) -> dict[str, Any]:
    """Codebook usage of a tokenizer that cannot decode; the image metrics are null with the reason."""
    from tokkit.data.dataset import iter_batches
    from tokkit.metrics import _common as C
    from tokkit.progress import task

    tok, source, n, size, dev = inputs.tok, inputs.source, inputs.num_images, inputs.image_size, inputs.device
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
            "transform": C.transform_name(source),
            **C.fingerprints(source, count),
            "data": getattr(source, "spec", str(data)),
            "tokenizer": C.tokenizer_info(tok),
            "recon_unavailable": reason,
            "lpips": {"net": "alex", "version": "0.1", "available": False, "reason": reason},
            "num_tokens": usage.num_tokens(),
            "batch_size": batch_size,
            "device": str(dev),
            "threads": thread_settings(),
            "warnings": inputs.warnings,
        },
    }

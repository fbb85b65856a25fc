"""Latent diagnostics that predict how well a latent generates (``tokkit eval latent``).

One pass over the first N images computes, for the latents a generator would model:

- statistics: per-channel and global mean / std (streaming float64 sums), the shift and scale that give
  zero mean and unit variance, beside the shift / scale the checkpoint records (``config_shift`` /
  ``config_scale``). For a KL-VAE whose tokkit latents are ``(z - shift) * scale`` (imported SD, MAR,
  FLUX), the statistics are those of the posterior ``z`` before the recorded affine, so that
  ``suggested_scale`` can be set beside ``config_scale``; ``scaled_global_mean`` / ``scaled_global_std``
  are those of the tokkit latents (what the generator sees; ~0 / ~1 when the recorded scale is right);
- the radial DCT spectrum (``tokkit.metrics.spectrum``) of the tokkit latents, with the RGB images
  area-downsampled to the latent grid and white noise of the latents' shape as baselines;
- equivariance (EQ-VAE, arXiv 2502.09509): PSNR(decode(T(encode(x))), T(x)) for T in scale 0.5 / 0.75
  (bilinear on latents, area on images), rot90 and a horizontal flip, beside T = identity (the plain
  reconstruction). Discrete and multi-scale tokenizers: T acts on the quantized vectors, re-quantized
  with ``tok.requantize``. Measured on the held-out images (every 5th, the probe's split rule);
- interpolation (iFID, arXiv 2603.05630): FD(held-out images, decode(slerp(z_i, z_j, 0.5))) with z_j
  drawn uniformly (seeded) among the 10 training latents nearest to z_i by cosine similarity (iFID
  draws with probability softmax(-MSE)), beside rFID (held-out reconstructions vs held-out images)
  under the same features and n.

Which vectors: continuous tokenizers: ``TokenBatch.latents``. Discrete: the code vectors of the tokens
(``tokens.quantized``, else the codebook rows). Multi-scale: the tokenizer's final f_hat (``quantized``,
the sum of all scales' upsampled codes, what its decoder takes), on the finest grid. For discrete and
multi-scale tokenizers the pre-quantization features get the same statistics and spectrum in
``features`` (null when the tokenizer exposes none).

Memory: the statistics and spectra are streaming sums (no (N, C, h, w) array); interpolation needs the
latent vectors of all N images, kept flattened as float32 (N x C h w; 64 MB for 4096 SD-VAE latents at
256 px), and the feature vectors of the held-out images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tokkit.errors import DataError, UsageError
from tokkit.metrics.spectrum import SpectrumAccumulator, white_noise_shares
from tokkit.threads import thread_settings
from tokkit.tokenizers._base import TokenBatch, Tokenizer

HOLDOUT_EVERY = 5  # the probe's split: image i is held out when i % 5 == 4
NEIGHBOURS = 10
SCALE_WARN_RATIO = 2.0
TRANSFORMS = ("scale_0.5", "scale_0.75", "rot90", "flip")
STAT_KEYS = ("latent_mean", "latent_std", "global_mean", "global_std", "suggested_shift", "suggested_scale")
SPECTRUM_KEYS = ("spectrum", "high_freq_share", "spectrum_log", "high_freq_share_log")
BASELINE_SPECTRUM_KEYS = ("rgb_high_freq_share", "rgb_high_freq_share_log", "noise_high_freq_share",
                          "noise_high_freq_share_log")  # fmt: skip
NO_GRID = "1-D tokens (no spatial grid): the measure needs a 2-D latent map"


# ---------------------------------------------------------------------------------------------
# Streaming statistics
# ---------------------------------------------------------------------------------------------
class ChannelStats:
    """Per-channel running sums of (x - shift) and its square, float64; the shift is the first batch's
    channel means (so the sums keep their precision under a large mean)."""

    def __init__(self) -> None:
        self.shift: np.ndarray | None = None
        self.s1: np.ndarray | None = None
        self.s2: np.ndarray | None = None
        self.count = 0  # values per channel

    def add(self, maps: Any) -> None:
        a = np.asarray(maps, dtype=np.float64)
        c = a.shape[1]
        v = np.moveaxis(a, 1, 0).reshape(c, -1)
        if self.shift is None:
            self.shift = v.mean(1)
            self.s1, self.s2 = np.zeros(c), np.zeros(c)
        d = v - self.shift[:, None]
        self.s1 += d.sum(1)
        self.s2 += (d * d).sum(1)
        self.count += v.shape[1]

    def merge(self, other: ChannelStats) -> None:
        """Add ``other``'s sums, re-centred on this shift (d = its shift - ours): s1 + n d, s2 + 2 d s1 + n d^2."""
        if other.shift is None:
            return
        if self.shift is None:
            self.shift, self.s1, self.s2 = other.shift.copy(), np.zeros_like(other.s1), np.zeros_like(other.s2)
        d = other.shift - self.shift
        self.s1 += other.s1 + other.count * d
        self.s2 += other.s2 + 2 * d * other.s1 + other.count * d * d
        self.count += other.count

    def result(self) -> dict[str, Any]:
        if self.shift is None or not self.count:
            return {k: None for k in STAT_KEYS}
        n, mean_d = self.count, self.s1 / self.count
        mean = self.shift + mean_d
        var = np.maximum(self.s2 / n - mean_d**2, 0.0)  # population variance per channel
        g_mean = float(mean.mean())  # every channel holds the same number of values
        g_var = float(np.mean(var + (mean - g_mean) ** 2))
        g_std = math.sqrt(g_var)
        return {
            "latent_mean": mean.tolist(),
            "latent_std": np.sqrt(var).tolist(),
            "global_mean": g_mean,
            "global_std": g_std,
            "suggested_shift": -g_mean,
            "suggested_scale": 1.0 / g_std if g_std > 0 else None,
        }


class MapSummary:
    """Statistics and spectrum of one family of (B, C, h, w) maps."""

    def __init__(self) -> None:
        self.stats = ChannelStats()
        self.spectrum = SpectrumAccumulator()
        self.shape: tuple[int, ...] | None = None

    def add(self, stats_maps: torch.Tensor, spectrum_maps: torch.Tensor | None = None) -> None:
        a = _np(stats_maps)
        self.stats.add(a)
        self.spectrum.add(a if spectrum_maps is None else _np(spectrum_maps))
        self.shape = tuple(a.shape[1:])

    def merge(self, other: MapSummary) -> None:
        self.stats.merge(other.stats)
        self.spectrum.merge(other.spectrum)
        self.shape = self.shape or other.shape

    def result(self) -> dict[str, Any]:
        out = {**self.stats.result(), **self.spectrum.result()}
        out["shape"] = list(self.shape) if self.shape else None
        return out


def _np(t: Any) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy() if isinstance(t, torch.Tensor) else np.asarray(t, np.float64)


# ---------------------------------------------------------------------------------------------
# Which vectors
# ---------------------------------------------------------------------------------------------
def latent_maps(tok: Tokenizer, tokens: TokenBatch) -> torch.Tensor | None:
    """(B, C, h, w): the latents of a continuous tokenizer, the code vectors (f_hat for multi-scale) otherwise."""
    from tokkit.metrics._common import quantized_vectors

    return tokens.latents if tok.kind == "continuous" else quantized_vectors(tok, tokens)


def raw_maps(tok: Tokenizer, z: torch.Tensor) -> torch.Tensor:
    """The posterior z before a recorded shift / scale (``from_tokens``), else z itself."""
    inv = getattr(tok, "from_tokens", None)
    return inv(z) if tok.kind == "continuous" and callable(inv) else z


def config_affine(tok: Tokenizer | None) -> tuple[Any, Any]:
    """(config_scale, config_shift) the checkpoint records: floats, per-channel lists, or None."""
    cfg = getattr(tok, "config", None) if tok is not None else None

    def get(name: str) -> Any:
        v = getattr(cfg, name, None)
        if v is None:
            return None
        return [float(x) for x in v] if isinstance(v, (list, tuple)) else float(v)

    return get("latent_scale"), get("latent_shift")


def scale_warning(suggested: float | None, recorded: Any) -> str | None:
    """One line when the recorded scale is off by more than 2x from the suggested one (a per-channel
    record is compared through its geometric mean)."""
    if suggested is None or recorded is None:
        return None
    rec = float(np.exp(np.mean(np.log(np.abs(recorded))))) if isinstance(recorded, list) else abs(float(recorded))
    if rec <= 0:
        return None
    ratio = suggested / rec
    if ratio > SCALE_WARN_RATIO or ratio < 1 / SCALE_WARN_RATIO:
        return (
            f"the recorded latent scale {rec:.4g} is {max(ratio, 1 / ratio):.1f}x off the suggested "
            f"{suggested:.4g} (1 / std of the shifted latents): a generator trained on these latents sees "
            f"std {1 / ratio:.3g}, not 1"
        )
    return None


# ---------------------------------------------------------------------------------------------
# Transforms and decoding vectors
# ---------------------------------------------------------------------------------------------
def transform(name: str, t: torch.Tensor, latent: bool) -> torch.Tensor:
    """T of (B, C, H, W): scales resize (bilinear for latents, area for images), rot90, horizontal flip."""
    if name == "identity":
        return t
    if name.startswith("scale_"):
        s = float(name.split("_")[1])
        h, w = t.shape[-2:]
        if (h * s) % 1 or (w * s) % 1 or h * s < 1 or w * s < 1:
            raise ValueError(f"{h}x{w} maps cannot be scaled by {s} to a whole grid")
        size = (int(h * s), int(w * s))
        if latent:
            return F.interpolate(t.float(), size=size, mode="bilinear", align_corners=False)
        return F.interpolate(t.float(), size=size, mode="area")
    if name == "rot90":
        return torch.rot90(t, 1, dims=(-2, -1))
    if name == "flip":
        return torch.flip(t, dims=(-1,))
    raise ValueError(f"unknown transform '{name}'")


def decode_vectors(tok: Tokenizer, v: torch.Tensor) -> torch.Tensor:
    """Images from latent maps v (B, C, h, w): continuous tokenizers decode them; discrete and multi-scale
    ones re-quantize them with ``tok.requantize`` first (NotImplementedError when they have none)."""
    if tok.kind == "continuous":
        return tok.decode(TokenBatch("continuous", latents=v))
    q = tok.requantize(v)
    return tok.decode(TokenBatch(tok.kind, indices=q.indices, quantized=q.quantized))


def _take(tokens: TokenBatch, sel: torch.Tensor) -> TokenBatch:
    """The rows ``sel`` of a TokenBatch."""

    def pick(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x[sel.to(x.device)]
        if isinstance(x, (list, tuple)):
            return [m[sel.to(m.device)] for m in x]
        return x

    return TokenBatch(tokens.kind, pick(tokens.indices), pick(tokens.latents), pick(tokens.features),
                      pick(tokens.quantized))  # fmt: skip


def unit_psnr(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) PSNR on [0, 1] RGB after uint8 rounding, as ``eval recon``."""
    from tokkit.metrics.recon import psnr, to_unit

    return psnr(to_unit(recon.float().clamp(-1, 1)), to_unit(target))


@dataclass
class Equivariance:
    """Per-transform PSNR sums over the held-out images, or the reason a transform could not be measured."""

    sums: dict[str, float] = field(default_factory=lambda: {k: 0.0 for k in ("identity", *TRANSFORMS)})
    count: int = 0
    reasons: dict[str, str] = field(default_factory=dict)

    def add(self, tok: Tokenizer, z: torch.Tensor, x: torch.Tensor, recon: torch.Tensor) -> None:
        self.sums["identity"] += float(unit_psnr(recon, x).sum())
        self.count += len(x)
        for name in TRANSFORMS:
            if name in self.reasons:
                continue
            try:
                target = transform(name, x, latent=False)
                out = decode_vectors(tok, transform(name, z, latent=True))
                if tuple(out.shape) != tuple(target.shape):
                    raise ValueError(f"decoded {tuple(out.shape[1:])}, expected {tuple(target.shape[1:])}")
                self.sums[name] += float(unit_psnr(out, target).sum())
            except NotImplementedError:
                self.reasons[name] = f"tokenizer '{tok.architecture}' has no quantize(): T(q) cannot be re-quantized"
            except (RuntimeError, ValueError, UsageError, DataError) as e:
                self.reasons[name] = f"{name} failed: {str(e).splitlines()[0]}"

    def merge(self, other: Equivariance) -> None:
        """Another share's sums; a transform that failed on any share is null, as in one process."""
        for k, v in other.sums.items():
            self.sums[k] += v
        self.count += other.count
        self.reasons = {**other.reasons, **self.reasons}

    def result(self) -> dict[str, Any]:
        if not self.count:
            return {"equivariance_psnr": None, "identity_psnr": None, "equivariance_reasons": {}}
        eq = {k: None if k in self.reasons else self.sums[k] / self.count for k in TRANSFORMS}
        return {"equivariance_psnr": eq, "identity_psnr": self.sums["identity"] / self.count,
                "equivariance_reasons": dict(self.reasons)}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The pass
# ---------------------------------------------------------------------------------------------
@dataclass
class LatentPass:
    """Everything one pass over the images accumulates."""

    primary: MapSummary = field(default_factory=MapSummary)
    scaled: ChannelStats = field(default_factory=ChannelStats)
    features: MapSummary = field(default_factory=MapSummary)
    rgb: SpectrumAccumulator = field(default_factory=SpectrumAccumulator)
    equivariance: Equivariance = field(default_factory=Equivariance)
    vectors: list[np.ndarray] = field(default_factory=list)  # flattened latents (float32), data order
    held: list[bool] = field(default_factory=list)
    held_images: list[torch.Tensor] = field(default_factory=list)  # held-out images (cpu), for the FD side
    real_feats: list[np.ndarray] = field(default_factory=list)
    recon_feats: list[np.ndarray] = field(default_factory=list)
    latent_shape: tuple[int, ...] | None = None
    count: int = 0

    def merge(self, other: LatentPass) -> None:
        """Append a later share of the images (torchrun): sums added, per-image lists extended in data order."""
        for name in ("primary", "scaled", "features", "rgb", "equivariance"):
            getattr(self, name).merge(getattr(other, name))
        for name in ("vectors", "held", "held_images", "real_feats", "recon_feats"):
            getattr(self, name).extend(getattr(other, name))
        self.latent_shape = self.latent_shape or other.latent_shape
        self.count += other.count


def _add_batch(tok: Tokenizer, x: torch.Tensor, held: np.ndarray, acc: LatentPass, feats: Any) -> None:
    """Encode one batch; add its statistics, spectra and (for held-out images) reconstructions."""
    tokens = tok.encode(x)
    z = latent_maps(tok, tokens)
    if z is None:
        raise DataError(f"tokenizer '{tok.architecture}' exposes no latent or code vectors to diagnose")
    raw = raw_maps(tok, z)
    acc.primary.add(raw, z)
    if raw is not z:
        acc.scaled.add(_np(z))
    if tok.kind != "continuous" and tokens.features is not None:
        acc.features.add(tokens.features)
    acc.rgb.add(_np(F.interpolate(x.float(), size=tuple(z.shape[-2:]), mode="area")))
    acc.latent_shape = tuple(z.shape[1:])
    acc.count += len(x)
    acc.held.extend(bool(h) for h in held)
    if not tok.can_decode:
        return
    acc.vectors.append(z.detach().float().flatten(1).cpu().numpy())
    sel = torch.from_numpy(np.flatnonzero(held))
    if not len(sel):
        return
    xs, zs = x[sel.to(x.device)], z[sel.to(z.device)]
    recon = tok.decode(_take(tokens, sel)).float().clamp(-1, 1)
    acc.equivariance.add(tok, zs, xs, recon)
    acc.real_feats.append(_feat(feats, xs))
    acc.recon_feats.append(_feat(feats, recon))
    acc.held_images.append(xs.cpu())


def _feat(feats: Any, images: torch.Tensor) -> np.ndarray:
    """Features of images in [-1, 1], after the uint8 rounding that ``eval recon`` applies."""
    from tokkit.metrics.recon import to_unit

    return feats((to_unit(images).float() * 2 - 1).to(images.device)).detach().to("cpu", torch.float64).numpy()


def latent_pass(inputs: Any, batch_size: int, feats: Any, rows: tuple[int, int] | None = None) -> LatentPass:
    """One pass over rows [start, stop) of the first N images (all by default; ``inputs`` from
    ``_common.prepare``). Image i is held out by its row (``split``)."""
    from tokkit.data.dataset import iter_batches
    from tokkit.generation.pipeline import split
    from tokkit.progress import task

    tok, n = inputs.tok, inputs.num_images
    start, stop = rows if rows is not None else (0, n)
    held_mask = split(n, HOLDOUT_EVERY)
    acc = LatentPass()
    if not tok.spatial_tokens:  # scaling, rotating or flipping a token row is no image transform
        acc.equivariance.reasons.update({name: NO_GRID for name in TRANSFORMS})
    with task("Latent diagnostics", total=stop - start) as t, torch.no_grad():
        for _, x, idx in iter_batches(inputs.source, inputs.image_size, batch_size, start, stop):
            _add_batch(tok, x.to(inputs.device), held_mask[idx.numpy()], acc, feats)
            t.advance(len(x))
    return acc


def sharded_latent_pass(inputs: Any, batch_size: int, feats: Any, shard: Any) -> LatentPass | None:
    """This rank's share of the pass, joined in data order on rank 0 (None on the other ranks)."""
    acc = latent_pass(inputs, batch_size, feats, (shard.start, shard.stop))
    if shard.world == 1:
        return acc
    shares = shard.gather(acc)
    if not shard.is_main:
        return None
    merged = shares[0]
    for other in shares[1:]:
        merged.merge(other)
    return merged


# ---------------------------------------------------------------------------------------------
# Interpolation FD
# ---------------------------------------------------------------------------------------------
def slerp(a: np.ndarray, b: np.ndarray, t: float = 0.5) -> np.ndarray:
    """Spherical interpolation of row vectors a, b (n, d), magnitudes interpolated linearly; nearly
    parallel (or zero) pairs fall back to the linear interpolation."""
    na, nb = np.linalg.norm(a, axis=1, keepdims=True), np.linalg.norm(b, axis=1, keepdims=True)
    ua, ub = a / np.maximum(na, 1e-12), b / np.maximum(nb, 1e-12)
    cos = np.clip((ua * ub).sum(1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cos)
    so = np.sin(omega)
    par = (so < 1e-6) | (na < 1e-12) | (nb < 1e-12)
    safe = np.where(par, 1.0, so)
    direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / safe
    out = direction * ((1 - t) * na + t * nb)
    return np.where(par, (1 - t) * a + t * b, out)


def interp_partners(z: np.ndarray, held: np.ndarray, seed: int, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """(held-out rows, their partners): for each held-out latent, one of its k nearest training latents by
    cosine similarity, drawn uniformly with ``seed``."""
    q_rows, t_rows = np.flatnonzero(held), np.flatnonzero(~held)
    zn = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    sims = zn[q_rows] @ zn[t_rows].T  # (n_held, n_train)
    kk = min(k, len(t_rows))
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :kk]
    rng = np.random.default_rng(seed)
    pick = nearest[np.arange(len(q_rows)), rng.integers(0, kk, size=len(q_rows))]
    return q_rows, t_rows[pick]


def interp_features(tok: Tokenizer, acc: LatentPass, feats: Any, batch_size: int, seed: int, dev: Any) -> np.ndarray:
    """Features of decode(slerp(z_i, z_j, 0.5)) for every held-out image i (NotImplementedError when a
    discrete tokenizer cannot re-quantize)."""
    z = np.concatenate(acc.vectors)
    held = np.asarray(acc.held[: len(z)])
    q_rows, partners = interp_partners(z, held, seed)
    mid = slerp(z[q_rows].astype(np.float64), z[partners].astype(np.float64), 0.5).astype(np.float32)
    shape = acc.latent_shape
    out = []
    with torch.no_grad():
        for b0 in range(0, len(mid), batch_size):
            v = torch.from_numpy(mid[b0 : b0 + batch_size]).view(-1, *shape).to(dev)
            out.append(_feat(feats, decode_vectors(tok, v).float().clamp(-1, 1)))
    return np.concatenate(out)


def fd_block(real: np.ndarray, fake: np.ndarray, what: str, warnings: list[str]) -> dict[str, Any]:
    """FD of two feature sets with n and the rank-deficiency flag (as ``eval recon``)."""
    from tokkit.metrics.frechet import frechet_distance_samples

    n, dim = len(real), real.shape[1]
    if n < 2:
        return {"value": None, "n": n, "rank_deficient": None, "reason": f"{what} needs >= 2 held-out images"}
    if n <= dim:
        warnings.append(
            f"{what}: {n} held-out images for {dim}-d features: the covariance is rank-deficient, the Frechet "
            "distance is biased and only comparable at the same n"
        )
    return {"value": frechet_distance_samples(real, fake), "n": n, "rank_deficient": bool(n <= dim), "reason": None}


def _fd_results(inputs: Any, acc: LatentPass, feats: Any, batch_size: int, seed: int) -> dict[str, Any]:
    tok, warnings = inputs.tok, inputs.warnings
    none = {"rfid": None, "rfid_n": None, "rfid_rank_deficient": None, "interp_fid": None, "interp_fid_n": None,
            "interp_rank_deficient": None, "feature_dim": None}  # fmt: skip
    if not tok.can_decode:
        reason = f"tokenizer '{tok.architecture}' has no pixel decoder"
        return {**none, "rfid_reason": reason, "interp_reason": reason}
    real, recon = np.concatenate(acc.real_feats), np.concatenate(acc.recon_feats)
    r = fd_block(real, recon, "rFID (held-out)", warnings)
    out = {**none, "rfid": r["value"], "rfid_n": r["n"], "rfid_rank_deficient": r["rank_deficient"],
           "rfid_reason": r["reason"], "feature_dim": int(real.shape[1]), "interp_reason": None}  # fmt: skip
    if int(np.sum(~np.asarray(acc.held))) < 1:
        out["interp_reason"] = "no training images to interpolate with (use more images)"
        return out
    try:
        fake = interp_features(tok, acc, feats, batch_size, seed, inputs.device)
    except NotImplementedError:
        out["interp_reason"] = f"tokenizer '{tok.architecture}' has no quantize(): slerped vectors cannot be decoded"
        return out
    i = fd_block(real, fake, "interp FID", warnings)
    out.update(interp_fid=i["value"], interp_fid_n=i["n"], interp_rank_deficient=i["rank_deficient"])
    out["interp_reason"] = i["reason"]
    return out


# ---------------------------------------------------------------------------------------------
# The evaluation
# ---------------------------------------------------------------------------------------------
def _statistics(acc: LatentPass, tok: Tokenizer | None) -> dict[str, Any]:
    p = acc.primary.result()
    scale, shift = config_affine(tok)
    scaled = acc.scaled.result() if acc.scaled.shift is not None else None
    h, w = acc.latent_shape[-2:] if acc.latent_shape else (1, 1)
    noise = white_noise_shares(h, w)
    rgb = acc.rgb.result()
    return {
        **{k: p[k] for k in STAT_KEYS},
        "scaled_global_mean": scaled["global_mean"] if scaled else p["global_mean"],
        "scaled_global_std": scaled["global_std"] if scaled else p["global_std"],
        "config_scale": scale,
        "config_shift": shift,
        "scale_warning": scale_warning(p["suggested_scale"], scale),
        **{k: p[k] for k in SPECTRUM_KEYS},
        "rgb_high_freq_share": rgb["high_freq_share"],
        "rgb_high_freq_share_log": rgb["high_freq_share_log"],
        "noise_high_freq_share": noise["high_freq_share"],
        "noise_high_freq_share_log": noise["high_freq_share_log"],
        "latent_shape": list(acc.latent_shape) if acc.latent_shape else None,
    }


def _features_block(acc: LatentPass, tok: Tokenizer) -> dict[str, Any] | None:
    if tok.kind == "continuous" or acc.features.shape is None:
        return None
    f = acc.features.result()
    return {**{k: f[k] for k in (*STAT_KEYS, *SPECTRUM_KEYS)}, "shape": f["shape"]}


def _protocol(inputs: Any, data: Any, batch_size: int, feats: Any, seed: int, acc: LatentPass) -> dict[str, Any]:
    from tokkit.metrics import _common as C

    tok = inputs.tok
    return {
        "num_images": acc.count,
        "num_held_out": int(np.sum(acc.held)),
        "image_size": inputs.image_size,
        "transform": C.transform_name(inputs.source),
        **C.fingerprints(inputs.source, acc.count, feats),
        "data": getattr(inputs.source, "spec", str(data)),
        "tokenizer": C.tokenizer_info(tok),
        "vectors": VECTORS[tok.kind],
        "statistics_space": "posterior z before the recorded shift/scale"
        if acc.scaled.shift is not None
        else "the vectors above",  # fmt: skip
        "spectrum": "orthonormal DCT-II per image and channel, 16 radial bands; linear: power share of bands 8-15; "
        "log: DC dropped, log(1 + band-mean power) normalised, bands 8-15 (arXiv 2502.14831)",
        "rgb_baseline": "the input images area-downsampled to the latent grid",
        "noise_baseline": "expected white noise of the latents' shape (equal power per DCT coefficient)",
        "equivariance": "PSNR(decode(T(z)), T(x)) on the held-out images; latents bilinear, images area; "
        "rot90 k=1, horizontal flip; discrete: T on the quantized vectors, re-quantized",
        "holdout": f"image i held out when i % {HOLDOUT_EVERY} == {HOLDOUT_EVERY - 1}",
        "interp": f"slerp(z_i, z_j, 0.5), z_j uniform among the {NEIGHBOURS} cosine-nearest training latents "
        f"(seed {seed}); FD vs the held-out images",
        "features": feats.describe() if feats is not None else None,
        "batch_size": batch_size,
        "device": str(inputs.device),
        "threads": thread_settings(),
        "warnings": inputs.warnings,
    }


VECTORS = {
    "continuous": "TokenBatch.latents",
    "discrete": "the code vectors of the tokens (quantized features)",
    "multiscale": "the final f_hat (sum of all scales' upsampled codes) on the finest grid",
}


def evaluate_latent(
    tokenizer: str | Path | Tokenizer | None = None,
    data: Any = None,
    latents: str | Path | np.ndarray | None = None,
    num_images: int | None = None,
    image_size: int | None = None,
    batch_size: int = 16,
    fid_features: str | Any = "effnet-lite0",
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    crop: str | None = None,
) -> dict[str, Any]:
    """The latent diagnostics of a tokenizer on ``data`` (every key, see the module docstring), or, with
    ``latents`` (an (N, C, h, w) array or .npy file), the weight-free ones of those latents only.

    Returns the statistics, spectra and baselines, ``equivariance_psnr`` / ``identity_psnr``,
    ``interp_fid`` / ``rfid`` with their n and rank flags, ``features`` (pre-quantization features of
    discrete tokenizers) and ``protocol``. A measure that cannot be computed is null with a reason."""
    if (tokenizer is None) == (latents is None):
        raise UsageError("give exactly one of a tokenizer or a latents array", hint="--tokenizer CKPT or --latents F")
    if latents is not None:
        return evaluate_latent_array(latents, batch_size)
    from tokkit.metrics import _common as C
    from tokkit.metrics.fid import create_fid_features

    if data is None:
        raise UsageError("a tokenizer's latent diagnostics need --data")
    inputs = C.prepare(tokenizer, data, num_images, image_size, batch_size, device, crop)
    tok = inputs.tok
    feats = None
    if tok.can_decode:
        feats = (
            create_fid_features(fid_features, weights, inputs.device) if isinstance(fid_features, str) else fid_features
        )
    from tokkit.metrics.shards import eval_shard

    with eval_shard(inputs.device, inputs.num_images, batch_size) as shard:  # all rows, or this rank's share
        acc = sharded_latent_pass(inputs, batch_size, feats, shard)
        out = _latent_result(inputs, data, acc, feats, fid_features, batch_size, seed) if shard.is_main else None
        if out is not None:
            out["protocol"]["processes"] = shard.world
        return shard.broadcast(out)


def _latent_result(inputs: Any, data: Any, acc: LatentPass, feats: Any, fid_features: Any, batch_size: int,
                   seed: int) -> dict[str, Any]:  # fmt: skip
    """The diagnostics of a finished pass: statistics, equivariance, FDs, protocol."""
    tok = inputs.tok
    eq = acc.equivariance.result()
    if not tok.can_decode:
        eq["equivariance_reasons"] = {"all": f"tokenizer '{tok.architecture}' has no pixel decoder"}
    fd = _fd_results(inputs, acc, feats, batch_size, seed)
    out = {
        **_statistics(acc, tok),
        **eq,
        **fd,
        "fid_features": getattr(feats, "spec", fid_features if isinstance(fid_features, str) else None),
        "features": _features_block(acc, tok),
        "protocol": _protocol(inputs, data, batch_size, feats, seed, acc),
    }
    return out if tok.spatial_tokens else _without_spectrum(out)


def _without_spectrum(out: dict[str, Any]) -> dict[str, Any]:
    """A 1-D tokenizer's result: the DCT spectra over a (1, L) token row (and their RGB / noise baselines)
    are null with the reason, not a spatial frequency of the image."""
    out.update(dict.fromkeys((*SPECTRUM_KEYS, *BASELINE_SPECTRUM_KEYS)), spectrum_reason=NO_GRID)
    if out.get("features") is not None:
        out["features"].update(dict.fromkeys(SPECTRUM_KEYS))
    return out


def load_latents(path: str | Path) -> np.ndarray:
    """An (N, C, h, w) float array from a .npy file (memory-mapped), else a one-line DataError."""
    try:
        arr = np.load(str(path), mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read latents '{path}': {str(e).splitlines()[0]}", hint="save with numpy.save") from e
    return check_latents(arr, str(path))


def check_latents(arr: Any, what: str = "latents") -> np.ndarray:
    if not isinstance(arr, np.ndarray) or arr.ndim != 4:
        raise DataError(f"{what}: expected an (N, C, h, w) array, got shape {getattr(arr, 'shape', None)}")
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{what}: expected a float array, got dtype {arr.dtype}")
    if arr.shape[0] < 1 or 0 in arr.shape:
        raise DataError(f"{what}: the array is empty (shape {arr.shape})")
    return arr


def evaluate_latent_array(latents: str | Path | np.ndarray, batch_size: int = 16) -> dict[str, Any]:
    """Statistics and spectra of latents made elsewhere ((N, C, h, w), streamed in chunks); the measures that
    need a decoder (equivariance, interpolation) are null with the reason."""
    arr = load_latents(latents) if isinstance(latents, (str, Path)) else check_latents(latents)
    acc = LatentPass()
    chunk = max(int(batch_size), 1)
    for b0 in range(0, arr.shape[0], chunk):
        block = np.asarray(arr[b0 : b0 + chunk], dtype=np.float64)
        if not np.isfinite(block).all():
            raise DataError(f"latents: non-finite values (NaN/inf) in rows {b0}-{b0 + len(block) - 1}")
        acc.primary.add(block)
        acc.count += len(block)
    acc.latent_shape = tuple(arr.shape[1:])
    reason = "latents given without a tokenizer: no decoder"
    out = _statistics(acc, None)
    out.update(rgb_high_freq_share=None, rgb_high_freq_share_log=None, rgb_reason="latents given without images",
               equivariance_psnr=None, identity_psnr=None, equivariance_reasons={"all": reason}, rfid=None,
               rfid_n=None, rfid_rank_deficient=None, rfid_reason=reason, interp_fid=None, interp_fid_n=None,
               interp_rank_deficient=None, interp_reason=reason, feature_dim=None, fid_features=None,
               features=None)  # fmt: skip
    out["protocol"] = {"num_images": acc.count, "data": str(latents) if not isinstance(latents, np.ndarray)
                       else "array", "tokenizer": None, "statistics_space": "the array as given",
                       "threads": thread_settings(), "warnings": []}  # fmt: skip
    return out


__all__ = [
    "ChannelStats",
    "decode_vectors",
    "evaluate_latent",
    "evaluate_latent_array",
    "interp_partners",
    "load_latents",
    "slerp",
    "transform",
]

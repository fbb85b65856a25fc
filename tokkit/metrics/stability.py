"""Latent-space stability (DiGIT, Table 1), with every choice the paper left open made explicit.

For each image x (float, [-1, 1], the tokenizer's input) and each perturbation x' of it:
- Gaussian noise at SNR s dB: x' = clip(x + sigma * n, -1, 1), n ~ N(0, I), sigma^2 = mean(x^2) / 10^(s/10)
  per image (signal power = mean square of the image in [-1, 1]); the noise of image i at level
  s is drawn from a generator seeded by (seed, i, level index), so results do not depend on the
  batch size. ``s = inf`` is no noise at all (x' = x).
- ``shift_1px``: content moved one pixel right, first column repeated.
- ``flip_back``: tokenize the horizontally flipped image, flip the token/feature maps back.
- ``jpeg_q75``: uint8 image through PIL's JPEG encoder at quality 75 (4:2:0) and back.

Then, clean vs perturbed, at every token position:
- token change rate = positions whose index differs / all positions (all images, all scales);
- cosine_quantized = mean cosine similarity of the quantized vectors (B, D, h, w) along D;
- cosine_features = the same for the pre-quantization features, when the tokenizer exposes them.
For continuous tokenizers ``token_change_rate`` holds the latent relative change
||z' - z|| / ||z|| (per image, mean over images) and ``cosine_quantized`` compares the latents.

Raw cosines and change rates reward a collapsed encoder (features = a large shared offset + a tiny
input-dependent part: every cosine is ~1). Beside them, measures that it cannot fake:
- centred cosine: the same cosine after removing the dataset mean vector (per channel, over every
  position of the clean evaluation images) from both vectors;
- latent SNR (dB) = 10 log10(spread / mean squared change), spread = E||v - mean||^2 over clean
  positions, change = E||v' - v||^2 under the perturbation: how far the latent moves compared with
  how far latents of different content lie apart;
- baselines: the raw and centred cosine between random pairs of positions from different images
  (what "no agreement" reads as), and for discrete tokens the change rate of random codes drawn
  with the clean usage, 1 - sum_k p_k^2 (a tokenizer using few codes changes rarely by chance).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tokkit.errors import UsageError
from tokkit.threads import thread_settings
from tokkit.tokenizers._base import TokenBatch, Tokenizer

DEFAULT_SNR_DB = (30.0, 25.0, 20.0, 15.0, 10.0, 5.0, 1.0)
PERTURBATIONS = ("shift_1px", "flip_back", "jpeg_q75")


def parse_snr_list(text: str) -> list[float]:
    """``"30,25,inf"`` -> [30.0, 25.0, inf]."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(float(part))
        except ValueError as e:
            raise UsageError(f"--snr-db value '{part}' is not a number (use e.g. 30,20,10 or inf)") from e
    if not out:
        raise UsageError("--snr-db needs at least one level")
    return out


# ---------------------------------------------------------------------------------------------
# Perturbations: (B, 3, H, W) in [-1, 1], source indices (B,) -> perturbed images
# ---------------------------------------------------------------------------------------------
def add_noise(x: torch.Tensor, idx: torch.Tensor, snr_db: float, seed: int, level: int) -> torch.Tensor:
    if math.isinf(snr_db) and snr_db > 0:
        return x.clone()
    power = x.double().pow(2).flatten(1).mean(1)  # (B,)
    sigma = torch.sqrt(power / 10.0 ** (snr_db / 10.0)).float()
    noise = torch.stack(
        [torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(hash_seed(seed, int(i), level))) for i in idx]
    ).to(x.device)
    return (x + sigma.view(-1, 1, 1, 1).to(x.device) * noise).clamp(-1, 1)


def hash_seed(*keys: int) -> int:
    return int(np.random.SeedSequence([k % 2**32 for k in keys]).generate_state(1, np.uint64)[0] % 2**63)


def shift_1px(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[..., 1:] = x[..., :-1]
    return out


def jpeg(x: torch.Tensor, quality: int = 75) -> torch.Tensor:
    from PIL import Image

    from tokkit.data.transforms import to_tensor, to_uint8

    out = []
    for img in to_uint8(x):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        out.append(to_tensor(np.asarray(Image.open(buf).convert("RGB"))))
    return torch.stack(out).to(x.device)


# ---------------------------------------------------------------------------------------------
# Pass 1 over the clean images: the dataset's mean vector, its spread, random pairs, code usage
# ---------------------------------------------------------------------------------------------
PAIR_POSITIONS = 8  # positions drawn per image for the random-pairs baseline


class _Moments:
    """Per-channel mean and total spread E||v - mean||^2 of (B, D, h, w) vectors, in float64.

    Sums are taken around the first batch's mean (a shift), so that a large shared offset does not
    cancel the small spread away in floating point."""

    def __init__(self) -> None:
        self.n = 0
        self.shift: torch.Tensor | None = None
        self.s1: torch.Tensor | None = None
        self.s2 = 0.0

    def add(self, v: torch.Tensor) -> None:
        flat = v.double().permute(1, 0, 2, 3).flatten(1)  # (D, B*h*w)
        if self.shift is None:
            self.shift = flat.mean(1)
            self.s1 = torch.zeros_like(self.shift)
        d = flat - self.shift[:, None]
        self.s1 += d.sum(1)
        self.s2 += float(d.pow(2).sum())
        self.n += flat.shape[1]

    def mean(self) -> torch.Tensor | None:
        return None if self.shift is None else self.shift + self.s1 / self.n

    def spread(self) -> float | None:
        if self.shift is None:
            return None
        m = self.s1 / self.n
        return max(self.s2 / self.n - float(m.pow(2).sum()), 0.0)


class _CleanPass:
    """What the perturbed passes are measured against, from one pass over the clean encodings."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.moments = {"quantized": _Moments(), "features": _Moments()}
        self.samples: dict[str, list[torch.Tensor]] = {"quantized": [], "features": []}
        self.sample_image: list[torch.Tensor] = []
        self.counts: list[np.ndarray] = []  # per scale: code counts over all clean tokens

    def add(self, tok: Tokenizer, clean: TokenBatch, idx: torch.Tensor) -> None:
        vectors = _vectors(tok, clean)
        for key, v in vectors.items():
            if v is not None:
                self.moments[key].add(v)
        # the same PAIR_POSITIONS positions of image i whatever the batch size: seeded per image
        first = next((v for v in vectors.values() if v is not None), None)
        if first is not None:
            hw = first.shape[-2] * first.shape[-1]
            pos = torch.stack(
                [
                    torch.randint(
                        0,
                        hw,
                        (PAIR_POSITIONS,),
                        generator=torch.Generator().manual_seed(hash_seed(self.seed, int(i), 101)),
                    )
                    for i in idx
                ]
            )  # (B, P)
            for key, v in vectors.items():
                if v is not None:
                    flat = v.detach().double().flatten(2).cpu()  # (B, D, hw)
                    self.samples[key].append(torch.gather(flat, 2, pos[:, None].expand(-1, flat.shape[1], -1)))
            self.sample_image.append(idx.cpu()[:, None].expand(-1, PAIR_POSITIONS))
        k = int(tok.codebook_size or 0)
        if tok.kind != "continuous" and k > 0:
            for s, m in enumerate(clean.index_maps()):
                c = np.bincount(m.flatten().cpu().numpy(), minlength=k)[:k]
                if s < len(self.counts):
                    self.counts[s] += c
                else:
                    self.counts.append(c.astype(np.int64))

    def baselines(self) -> dict[str, Any]:
        """Random pairs of positions from different images (raw and centred cosine), the spread of the
        clean vectors, and the change rate of random codes drawn with the clean usage: 1 - sum_k p_k^2
        per scale (two independent draws from p differ with that probability), position-weighted."""
        raw: dict[str, float | None] = {}
        centred: dict[str, float | None] = {}
        pairs = 0
        if self.sample_image:
            img = torch.cat(self.sample_image).flatten()
            perm = torch.randperm(len(img), generator=torch.Generator().manual_seed(hash_seed(self.seed, 202)))
            keep = img != img[perm]
            pairs = int(keep.sum())
        for key in ("quantized", "features"):
            raw[key] = centred[key] = None
            if not self.samples[key] or pairs == 0:
                continue
            v = torch.cat(self.samples[key]).permute(0, 2, 1).reshape(-1, self.samples[key][0].shape[1])  # (N*P, D)
            a, b = v[keep], v[perm][keep]
            raw[key] = float(F.cosine_similarity(a, b, dim=1, eps=1e-12).mean())
            m = self.moments[key].mean()
            centred[key] = float(F.cosine_similarity(a - m, b - m, dim=1, eps=1e-12).mean())
        change = None
        if self.counts:
            num = sum(float(c.sum()) * (1.0 - float(((c / c.sum()) ** 2).sum())) for c in self.counts)
            change = num / sum(float(c.sum()) for c in self.counts)
        return {
            "cosine_random_pairs": raw,
            "cosine_random_pairs_centred": centred,
            "num_pairs": pairs,
            "token_change_random_codes": change,
            "spread": {key: m.spread() for key, m in self.moments.items()},
        }


def _vectors(tok: Tokenizer, t: TokenBatch) -> dict[str, torch.Tensor | None]:
    """{"quantized": (B, D, h, w) quantized vectors (the latents of a continuous tokenizer),
    "features": (B, D', h, w) pre-quantization features or None}."""
    from tokkit.metrics._common import quantized_vectors

    q = t.latents if tok.kind == "continuous" else quantized_vectors(tok, t)
    return {"quantized": q, "features": t.features}


# ---------------------------------------------------------------------------------------------
# Pass 2: comparison of the clean and the perturbed encodings
# ---------------------------------------------------------------------------------------------
class _VectorTally:
    """Cosine (raw and centred on the dataset mean) and squared change of one kind of vector."""

    def __init__(self, mean: torch.Tensor | None, spread: float | None) -> None:
        self.mean, self.spread = mean, spread
        self.cos = self.cos_c = self.sq = 0.0
        self.n = 0

    def add(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, np.ndarray]:
        """a, b: (B, D, h, w). Returns this batch's per-image values (B,): cosine, centred cosine
        (when the mean is known) and mean squared change per position."""
        a, b = a.double(), b.double()
        cos = F.cosine_similarity(a, b, dim=1, eps=1e-12)  # (B, h, w)
        self.cos += float(cos.sum())
        out = {"cosine": cos.mean((1, 2)).cpu().numpy()}
        if self.mean is not None:
            m = self.mean.to(a.device).view(1, -1, 1, 1)
            cos_c = F.cosine_similarity(a - m, b - m, dim=1, eps=1e-12)
            self.cos_c += float(cos_c.sum())
            out["centred_cosine"] = cos_c.mean((1, 2)).cpu().numpy()
        sq = (b - a).pow(2).sum(1)  # (B, h, w)
        self.sq += float(sq.sum())
        self.n += a.shape[0] * a.shape[2] * a.shape[3]
        out["msc"] = sq.mean((1, 2)).cpu().numpy()
        return out

    def result(self) -> tuple[float | None, float | None, float | None]:
        """(cosine, centred cosine, latent SNR in dB = 10 log10(spread / mean squared change))."""
        if not self.n:
            return None, None, None
        msc = self.sq / self.n
        if self.spread is None:
            snr = None
        elif msc == 0:
            snr = math.inf
        else:
            snr = 10 * math.log10(max(self.spread, 1e-300) / msc)
        return self.cos / self.n, (self.cos_c / self.n if self.mean is not None else None), snr


IMAGE_SNR_CAP_DB = 100.0  # per-image latent SNR ceiling (the paired decisions average per-image values)


class _Tally:
    """Running sums for one perturbation."""

    def __init__(self, ref: _CleanPass) -> None:
        self.changed = 0
        self.positions = 0
        self.rel = 0.0
        self.rel_n = 0
        self.vec = {k: _VectorTally(m.mean(), m.spread()) for k, m in ref.moments.items()}
        self.images: dict[str, list[np.ndarray]] = {}  # per-image values, (B,) blocks in data order

    def _keep(self, key: str, values: torch.Tensor | np.ndarray) -> None:
        v = values.detach().cpu().double().numpy() if isinstance(values, torch.Tensor) else values
        self.images.setdefault(key, []).append(np.asarray(v, np.float64))

    def per_image(self) -> dict[str, np.ndarray]:
        """(N,) per-image values: change_rate, cosine, centred_cosine, latent_snr_db (quantized vectors) and,
        when the tokenizer has pre-quantization features, the same three for them prefixed ``features_``;
        their means over images are the reported figures (the SNR: per image, 10 log10(spread / change))."""
        out = {k: np.concatenate(v) for k, v in self.images.items() if not k.endswith("msc")}
        for prefix, key in (("", "quantized"), ("features_", "features")):
            spread = self.vec[key].spread
            if f"{prefix}msc" in self.images and spread is not None:
                msc = np.concatenate(self.images[f"{prefix}msc"])
                snr = 10 * np.log10(max(spread, 1e-300) / np.maximum(msc, 1e-300))
                # an unchanged image has an infinite SNR: capped (as PSNR is), so that paired means stay finite
                out[f"{prefix}latent_snr_db"] = np.minimum(snr, IMAGE_SNR_CAP_DB)
        return out

    def add(self, tok: Tokenizer, a: TokenBatch, b: TokenBatch, flip_back: bool) -> None:
        def fb(t: torch.Tensor | None) -> torch.Tensor | None:
            return t.flip(-1) if (flip_back and t is not None) else t

        changed_i, positions_i = 0, 0
        for ma, mb in zip(a.index_maps(), b.index_maps(), strict=True):
            mb = fb(mb)
            diff = (ma != mb).flatten(1)  # (B, h*w)
            self.changed += int(diff.sum())
            self.positions += ma.numel()
            changed_i, positions_i = changed_i + diff.sum(1), positions_i + diff.shape[1]
        if positions_i:
            self._keep("change_rate", changed_i.double() / positions_i)
        if tok.kind == "continuous":
            za, zb = a.latents, fb(b.latents)
            if za is not None and zb is not None:
                num = (zb.double() - za.double()).flatten(1).norm(dim=1)
                den = za.double().flatten(1).norm(dim=1).clamp_min(1e-12)
                self.rel += float((num / den).sum())
                self.rel_n += za.shape[0]
                self._keep("change_rate", num / den)
        va, vb = _vectors(tok, a), _vectors(tok, b)
        for key, tally in self.vec.items():
            if va[key] is not None and vb[key] is not None:
                got = tally.add(va[key], fb(vb[key]))
                prefix = "" if key == "quantized" else "features_"
                for k, v in got.items():
                    self._keep(prefix + k, v)

    def result(self, continuous: bool) -> dict[str, float | None]:
        if continuous:
            change = self.rel / self.rel_n if self.rel_n else None
        else:
            change = self.changed / self.positions if self.positions else None
        cq, cqc, snr_q = self.vec["quantized"].result()
        cf, cfc, snr_f = self.vec["features"].result()
        return {
            "token_change_rate": change,
            "cosine_quantized": cq,
            "cosine_features": cf,
            "cosine_quantized_centred": cqc,
            "cosine_features_centred": cfc,
            "latent_snr_db": snr_q,
            "feature_snr_db": snr_f,
        }


def _check_stability_args(snr_db: Sequence[float], perturbations: Sequence[str]) -> list[float]:
    """The SNR levels as floats; unknown perturbations and NaN levels are usage errors."""
    unknown = [p for p in perturbations if p not in PERTURBATIONS]
    if unknown:
        raise UsageError(f"unknown perturbation '{unknown[0]}'; choose from {', '.join(PERTURBATIONS)}")
    levels = [float(s) for s in snr_db]
    if any(math.isnan(s) for s in levels):
        raise UsageError("--snr-db levels must be numbers")
    return levels


def _clean_pass(tok: Tokenizer, inputs: Any, batch_size: int, seed: int) -> _CleanPass:
    """Pass 1: the clean encodings alone give the dataset mean, the spread and the baselines."""
    from tokkit.data.dataset import iter_batches
    from tokkit.metrics import _common as C
    from tokkit.progress import task

    ref = _CleanPass(seed)
    n, dev = inputs.num_images, inputs.device
    with task("Stability: clean pass", total=n) as t, torch.no_grad():
        for _, x, idx in iter_batches(inputs.source, inputs.image_size, batch_size, 0, n):
            x = x.to(dev)
            clean = tok.encode(x)
            C.check_batch_shapes(tok, x, clean, None)
            ref.add(tok, clean, idx)
            t.advance(len(x))
    return ref


# a perturbation other than noise: its tally, the image transform, and whether maps are flipped back
_Other = tuple[_Tally, Callable[[torch.Tensor], torch.Tensor], bool]


def _other_perturbations(perturbations: Sequence[str], ref: _CleanPass) -> dict[str, _Other]:
    other: dict[str, _Other] = {}
    for p in perturbations:
        if p == "shift_1px":
            other[p] = (_Tally(ref), shift_1px, False)
        elif p == "flip_back":
            other[p] = (_Tally(ref), lambda x: x.flip(-1), True)
        else:
            other[p] = (_Tally(ref), jpeg, False)
    return other


def _perturbed_pass(
    tok: Tokenizer,
    inputs: Any,
    batch_size: int,
    seed: int,
    snr_db: list[float],
    noise_tallies: list[_Tally],
    other: dict[str, _Other],
) -> int:
    """Pass 2: every perturbation against the clean encoding of the same image. Returns the image count."""
    from tokkit.data.dataset import iter_batches
    from tokkit.progress import task

    count = 0
    n, dev = inputs.num_images, inputs.device
    with task("Stability: perturbed", total=n) as t, torch.no_grad():
        for _, x, idx in iter_batches(inputs.source, inputs.image_size, batch_size, 0, n):
            x = x.to(dev)
            clean = tok.encode(x)
            for level, (s, tally) in enumerate(zip(snr_db, noise_tallies, strict=True)):
                tally.add(tok, clean, tok.encode(add_noise(x, idx, s, seed, level)), False)
            for tally, fn, flip in other.values():
                tally.add(tok, clean, tok.encode(fn(x)), flip)
            count += len(x)
            t.advance(len(x))
    return count


def _stability_protocol(
    inputs: Any, data: Any, batch_size: int, seed: int, count: int, has_features: bool
) -> dict[str, Any]:
    from tokkit.metrics import _common as C

    tok = inputs.tok
    continuous = tok.kind == "continuous"
    return {
        "num_images": count,
        "image_size": inputs.image_size,
        "transform": C.transform_name(inputs.source),
        **C.fingerprints(inputs.source, count),
        "data": getattr(inputs.source, "spec", str(data)),
        "tokenizer": C.tokenizer_info(tok),
        "seed": seed,
        "noise": "x' = clip(x + sigma*N(0,I), -1, 1), sigma^2 = mean(x^2)/10^(snr_db/10) per image, x in [-1,1]; "
        "snr_db=inf means no noise",
        "change_measure": (
            "latent relative change ||z'-z||/||z|| per image, mean over images (continuous tokenizer)"
            if continuous
            else "token change rate: changed positions / all positions, all images"
            + (" and all scales" if tok.kind == "multiscale" else "")
        ),
        "cosine_quantized": (
            "cosine of the latents at each position, mean over positions"
            if continuous
            else "cosine of the quantized vectors at each position (along D), mean over all positions"
        ),
        "cosine_features": (
            "cosine of the pre-quantization features at each position, mean over all positions"
            if has_features
            else "null: this tokenizer does not expose pre-quantization features"
        ),
        "centred_cosine": "cosine after subtracting the dataset mean vector (per channel, over all positions of "
        "the clean evaluation images) from both vectors: a shared offset no longer counts as agreement",
        "latent_snr": "10 log10(spread / mean squared change): spread = mean over clean positions of "
        "||v - dataset mean||^2, change = ||v' - v||^2 per position; latent_snr_db for the quantized vectors "
        "(the latents of a continuous tokenizer), feature_snr_db for the pre-quantization features; per-image "
        f"values (paired decisions) capped at {IMAGE_SNR_CAP_DB:g} dB",
        "baselines": f"cosine_random_pairs: {PAIR_POSITIONS} positions per clean image (seeded per image), paired "
        "by a seeded permutation, pairs within one image dropped; token_change_random_codes: 1 - sum_k p_k^2 "
        "per scale with p the clean code frequencies (codes drawn at random with the same usage), "
        "position-weighted over scales",
        "perturbations": {
            "shift_1px": "content moved 1 pixel right, first column repeated",
            "flip_back": "tokenize the horizontal flip, flip the token and feature maps back",
            "jpeg_q75": "uint8 -> PIL JPEG quality 75 (4:2:0) -> decode",
        },
        "batch_size": batch_size,
        "device": str(inputs.device),
        "threads": thread_settings(),
        "warnings": inputs.warnings,
    }


# a 1-D tokenizer's token j is no image column: flipping its token row back compares unrelated tokens
FLIP_1D = "1-D tokens (no spatial grid): a flipped image's token row cannot be flipped back to compare positions"

_NOISE_KEYS = (
    "token_change_rate",
    "cosine_quantized",
    "cosine_features",
    "cosine_quantized_centred",
    "cosine_features_centred",
    "latent_snr_db",
    "feature_snr_db",
)


def _summarise_stability(
    snr_db: list[float], noise_tallies: list[_Tally], other: dict[str, _Other], ref: _CleanPass, continuous: bool
) -> dict[str, Any]:
    """Per-SNR lists aligned with ``snr_db``, the baselines and one entry per other perturbation."""
    noise = [tl.result(continuous) for tl in noise_tallies]
    return {
        "snr_db": snr_db,
        **{key: [r[key] for r in noise] for key in _NOISE_KEYS},
        "baselines": ref.baselines(),
        "perturbations": {p: tally.result(continuous) for p, (tally, _, _) in other.items()},
    }


def evaluate_stability(
    tokenizer: str | Path | Tokenizer,
    data: Any,
    num_images: int | None = None,
    image_size: int | None = None,
    batch_size: int = 16,
    snr_db: Sequence[float] = DEFAULT_SNR_DB,
    perturbations: Sequence[str] = PERTURBATIONS,
    seed: int = 0,
    device: str | torch.device = "cpu",
    arrays_out: dict[str, Any] | None = None,
    crop: str | None = None,
) -> dict[str, Any]:
    """Re-tokenize perturbed images and compare with the clean tokens.

    ``arrays_out``, when given, is filled with the per-image values of every perturbation
    (``{"snr=15": {"change_rate": (N,), "cosine": ..., "centred_cosine": ..., "latent_snr_db": ...,
    "features_cosine": ..., ...}, "shift_1px": {...}, ...}``; ``features_*``: the pre-quantization features,
    where the tokenizer has them), for paired comparisons.

    Returns {"snr_db", "token_change_rate", "cosine_quantized", "cosine_features",
    "cosine_quantized_centred", "cosine_features_centred", "latent_snr_db", "feature_snr_db", "baselines",
    "perturbations", "protocol"}; the per-SNR entries are lists aligned with ``snr_db``. Two passes: the
    clean images first (dataset mean, spread, baselines), then every perturbation.
    """
    from tokkit.metrics import _common as C

    levels = _check_stability_args(snr_db, perturbations)
    inputs = C.prepare(tokenizer, data, num_images, image_size, batch_size, device, crop)
    tok = inputs.tok
    ref = _clean_pass(tok, inputs, batch_size, seed)
    noise_tallies = [_Tally(ref) for _ in levels]
    not_applicable = {} if tok.spatial_tokens else {p: FLIP_1D for p in perturbations if p == "flip_back"}
    other = _other_perturbations([p for p in perturbations if p not in not_applicable], ref)
    count = _perturbed_pass(tok, inputs, batch_size, seed, levels, noise_tallies, other)
    has_features = ref.moments["features"].n > 0
    if arrays_out is not None:
        arrays_out.update({f"snr={s:g}": t.per_image() for s, t in zip(levels, noise_tallies, strict=True)})
        arrays_out.update({p: t.per_image() for p, (t, _, _) in other.items()})
    out = _summarise_stability(levels, noise_tallies, other, ref, tok.kind == "continuous")
    for p, reason in not_applicable.items():  # in the order asked for, null with the reason
        out["perturbations"][p] = {**dict.fromkeys(_NOISE_KEYS), "reason": reason}
    out["perturbations"] = {p: out["perturbations"][p] for p in perturbations}
    return {**out, "protocol": _stability_protocol(inputs, data, batch_size, seed, count, has_features)}

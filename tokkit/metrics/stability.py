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
# Comparison of two encodings
# ---------------------------------------------------------------------------------------------
class _Tally:
    """Running sums for one perturbation."""

    def __init__(self) -> None:
        self.changed = 0
        self.positions = 0
        self.cos_q = 0.0
        self.cos_q_n = 0
        self.cos_f = 0.0
        self.cos_f_n = 0
        self.rel = 0.0
        self.rel_n = 0

    def add(self, tok: Tokenizer, a: TokenBatch, b: TokenBatch, flip_back: bool) -> None:
        from tokkit.metrics._common import quantized_vectors

        def fb(t: torch.Tensor | None) -> torch.Tensor | None:
            return t.flip(-1) if (flip_back and t is not None) else t

        for ma, mb in zip(a.index_maps(), b.index_maps(), strict=True):
            mb = fb(mb)
            self.changed += int((ma != mb).sum())
            self.positions += ma.numel()
        if tok.kind == "continuous":
            za, zb = a.latents, fb(b.latents)
            if za is not None and zb is not None:
                num = (zb.double() - za.double()).flatten(1).norm(dim=1)
                den = za.double().flatten(1).norm(dim=1).clamp_min(1e-12)
                self.rel += float((num / den).sum())
                self.rel_n += za.shape[0]
            qa, qb = za, zb
        else:
            qa, qb = quantized_vectors(tok, a), fb(quantized_vectors(tok, b))
        if qa is not None and qb is not None:
            c = F.cosine_similarity(qa.double(), qb.double(), dim=1, eps=1e-12)
            self.cos_q += float(c.sum())
            self.cos_q_n += c.numel()
        fa, fb_ = a.features, fb(b.features)
        if fa is not None and fb_ is not None:
            c = F.cosine_similarity(fa.double(), fb_.double(), dim=1, eps=1e-12)
            self.cos_f += float(c.sum())
            self.cos_f_n += c.numel()

    def result(self, continuous: bool) -> dict[str, float | None]:
        if continuous:
            change = self.rel / self.rel_n if self.rel_n else None
        else:
            change = self.changed / self.positions if self.positions else None
        return {
            "token_change_rate": change,
            "cosine_quantized": self.cos_q / self.cos_q_n if self.cos_q_n else None,
            "cosine_features": self.cos_f / self.cos_f_n if self.cos_f_n else None,
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
) -> dict[str, Any]:
    """Re-tokenize perturbed images and compare with the clean tokens.

    Returns {"snr_db", "token_change_rate", "cosine_quantized", "cosine_features", "perturbations",
    "protocol"}; the per-SNR entries are lists aligned with ``snr_db``.
    """
    from tokkit.data.dataset import iter_batches
    from tokkit.metrics import _common as C
    from tokkit.progress import task

    unknown = [p for p in perturbations if p not in PERTURBATIONS]
    if unknown:
        raise UsageError(f"unknown perturbation '{unknown[0]}'; choose from {', '.join(PERTURBATIONS)}")
    snr_db = [float(s) for s in snr_db]
    if any(math.isnan(s) for s in snr_db):
        raise UsageError("--snr-db levels must be numbers")
    inputs = C.prepare(tokenizer, data, num_images, image_size, batch_size, device)
    tok, source, n, size, dev, warnings = (
        inputs.tok, inputs.source, inputs.num_images, inputs.image_size, inputs.device, inputs.warnings
    )  # fmt: skip

    noise_tallies = [_Tally() for _ in snr_db]
    other: dict[str, tuple[_Tally, Callable[[torch.Tensor], torch.Tensor], bool]] = {}
    for p in perturbations:
        if p == "shift_1px":
            other[p] = (_Tally(), shift_1px, False)
        elif p == "flip_back":
            other[p] = (_Tally(), lambda x: x.flip(-1), True)
        else:
            other[p] = (_Tally(), jpeg, False)

    count = 0
    with task("Stability", total=n) as t, torch.no_grad():
        for _, x, idx in iter_batches(source, size, batch_size, 0, n):
            x = x.to(dev)
            clean = tok.encode(x)
            C.check_batch_shapes(tok, x, clean, None)
            for level, (s, tally) in enumerate(zip(snr_db, noise_tallies, strict=True)):
                tally.add(tok, clean, tok.encode(add_noise(x, idx, s, seed, level)), False)
            for tally, fn, flip in other.values():
                tally.add(tok, clean, tok.encode(fn(x)), flip)
            count += len(x)
            t.advance(len(x))

    continuous = tok.kind == "continuous"
    noise = [tl.result(continuous) for tl in noise_tallies]
    has_features = noise_tallies[0].cos_f_n > 0 if noise_tallies else False
    protocol = {
        "num_images": count,
        "image_size": size,
        "transform": C.TRANSFORM,
        "data": getattr(source, "spec", str(data)),
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
        "perturbations": {
            "shift_1px": "content moved 1 pixel right, first column repeated",
            "flip_back": "tokenize the horizontal flip, flip the token and feature maps back",
            "jpeg_q75": "uint8 -> PIL JPEG quality 75 (4:2:0) -> decode",
        },
        "batch_size": batch_size,
        "device": str(dev),
        "warnings": warnings,
    }
    return {
        "snr_db": snr_db,
        "token_change_rate": [r["token_change_rate"] for r in noise],
        "cosine_quantized": [r["cosine_quantized"] for r in noise],
        "cosine_features": [r["cosine_features"] for r in noise],
        "perturbations": {p: tally.result(continuous) for p, (tally, _, _) in other.items()},
        "protocol": protocol,
    }

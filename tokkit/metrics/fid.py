"""Frechet distances between image sets in a chosen feature space, and the feature passes behind them.

The distances themselves are in ``tokkit.metrics.frechet``; ``frechet_distance_stats`` compares two
sets from their vectors when both are small (n <= D/2 each: exact and O(D n1 n2)), else from their
covariances, rooting the larger set's once.

Feature networks (``--fid-features``):
- ``inception``: the standard FID network, torch-fidelity's TF-exact InceptionV3 (TF1 bilinear
  resize to 299, pool3 2048-d), weights ``weights-inception-2015-12-05-6726825d.pth``;
- any registered encoder spec (``effnet-lite0``, ``dinov2-b``, ...): its ``pooled`` descriptor
  after a bilinear (antialiased) resize to the encoder's input size.

Feature statistics are accumulated in float64 as running sums (memory flat in the number of
images); real-image statistics are cached per (data, protocol, features) on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from tokkit.errors import DataError, UsageError, WeightsMissingError
from tokkit.metrics.frechet import checked_moments, frechet_distance, frechet_distance_rooted, frechet_distance_samples
from tokkit.registry import Registry

log = logging.getLogger("tokkit.metrics")

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE
STATS_FORMAT = 1


# ---------------------------------------------------------------------------------------------
# Streaming statistics
# ---------------------------------------------------------------------------------------------
@dataclass
class FeatureStats:
    """Mean (D,) and covariance (D, D, ddof=1) of ``n`` feature vectors, float64; ``features``
    (n, D) float32 when they were kept (KID and paired bootstraps need the vectors themselves)."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    features: np.ndarray | None = None
    # (n, D) float64 vectors while n <= D / 2 (the exact low-rank distance), else None
    vectors: np.ndarray | None = field(default=None, repr=False, compare=False)
    _root: np.ndarray | None = field(default=None, repr=False, compare=False)  # sigma^1/2, once computed

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])

    def rank_warning(self, what: str = "") -> str | None:
        """A warning when the covariance cannot be full rank (n - 1 < D)."""
        if self.n - 1 < self.dim:
            return (
                f"{what + ': ' if what else ''}{self.n} images for {self.dim}-d features: the covariance is "
                f"rank-deficient (needs >= {self.dim + 1} images), the Frechet distance is biased and only "
                "comparable at the same n"
            )
        return None


class StatsAccumulator:
    """Running float64 sums of shifted features: memory O(D^2), independent of the number of images.

    The shift is the first feature vector seen, so the result does not depend on the batch size
    (beyond summation-order rounding) and the sums do not lose precision to a large mean.
    """

    def __init__(self, keep_features: bool = False) -> None:
        self.n = 0
        self.shift: np.ndarray | None = None
        self.s1: np.ndarray | None = None
        self.s2: np.ndarray | None = None
        self.kept: list[np.ndarray] | None = [] if keep_features else None  # float32 (b, D) blocks
        self.few: list[np.ndarray] | None = []  # float64 (b, D) blocks while n <= D / 2; None after

    def add(self, feats: torch.Tensor | np.ndarray) -> None:
        f = feats.detach().to("cpu", torch.float64).numpy() if isinstance(feats, torch.Tensor) else feats
        if not len(f):  # e.g. a batch without held-out images (an empty array cannot be reshaped to (0, -1))
            return
        f = np.asarray(f, np.float64).reshape(len(f), -1)
        if not np.isfinite(f).all():
            raise DataError("the feature network produced non-finite features")
        if self.shift is None:
            self.shift = f[0].copy()
            self.s1 = np.zeros(f.shape[1])
            self.s2 = np.zeros((f.shape[1], f.shape[1]))
        d = f - self.shift
        self.s1 += d.sum(0)
        self.s2 += d.T @ d
        self.n += len(f)
        if self.kept is not None:
            self.kept.append(f.astype(np.float32))
        if self.few is not None:
            # a copy: f may share memory with the caller's float64 tensor
            self.few = self.few + [f.copy()] if self.n <= few_cap(f.shape[1]) else None

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The running sums as arrays (for ``tokkit.metrics.partial``); {} before the first vector."""
        if self.shift is None:
            return {}
        few = {f"{prefix}_few": np.concatenate(self.few)} if self.few else {}
        return {f"{prefix}_shift": self.shift, f"{prefix}_s1": self.s1, f"{prefix}_s2": self.s2,
                f"{prefix}_n": np.int64(self.n), **few}  # fmt: skip

    @classmethod
    def restore(cls, arrays: dict[str, np.ndarray], prefix: str, kept: list[np.ndarray] | None) -> StatsAccumulator:
        """The accumulator ``state_arrays`` saved, its kept feature blocks ``kept`` (None: not kept)."""
        acc = cls(keep_features=kept is not None)
        if f"{prefix}_shift" in arrays:
            acc.shift, acc.s1, acc.s2 = (np.array(arrays[f"{prefix}_{k}"]) for k in ("shift", "s1", "s2"))
            acc.n = int(arrays[f"{prefix}_n"])
            acc.few = [np.array(arrays[f"{prefix}_few"])] if f"{prefix}_few" in arrays else None
        if kept is not None:
            acc.kept = list(kept)
        return acc

    def stats(self) -> FeatureStats:
        if self.n < 2 or self.shift is None:
            raise DataError(f"a Frechet distance needs at least 2 images; got {self.n}", hint="use more images")
        mean_d = self.s1 / self.n
        cov = (self.s2 - self.n * np.outer(mean_d, mean_d)) / (self.n - 1)
        kept = np.concatenate(self.kept) if self.kept else None
        few = np.concatenate(self.few) if self.few else None
        return FeatureStats(self.shift + mean_d, (cov + cov.T) / 2, self.n, kept, few)


def few_cap(dim: int) -> int:
    """How many vectors a set keeps for the low-rank distance: D / 2 (its memory is at most half the
    covariance's; beyond it the D x D eigendecomposition is the cheaper path)."""
    return dim // 2


def merge_accumulators(parts: list[StatsAccumulator | None]) -> StatsAccumulator:
    """One ``StatsAccumulator`` equal to feeding every part's features in order into one.

    Each part holds sums of ``f - shift_r``; re-centred on the first part's shift (what one process
    uses: the first feature vector seen), with d = shift_r - shift_0:
    s1' = s1 + n d, s2' = s2 + d s1^T + s1 d^T + n d d^T (exact up to float64 rounding)."""
    parts = [p for p in parts if p is not None and p.n]
    out = StatsAccumulator(keep_features=any(p.kept is not None for p in parts))
    if not parts:
        return out
    out.shift = parts[0].shift.copy()
    out.s1 = np.zeros_like(parts[0].s1)
    out.s2 = np.zeros_like(parts[0].s2)
    for p in parts:
        d = p.shift - out.shift
        out.s1 += p.s1 + p.n * d
        out.s2 += p.s2 + np.outer(d, p.s1) + np.outer(p.s1, d) + p.n * np.outer(d, d)
        out.n += p.n
        if out.kept is not None and p.kept:
            out.kept.extend(p.kept)
    few_parts = [p.few for p in parts]
    out.few = None if any(f is None for f in few_parts) or out.n > few_cap(len(out.s1)) else sum(few_parts, [])
    return out


def feature_stats(features: Iterable[torch.Tensor | np.ndarray]) -> FeatureStats:
    acc = StatsAccumulator()
    for f in features:
        acc.add(f)
    return acc.stats()


def frechet_distance_stats(a: FeatureStats, b: FeatureStats) -> float:
    """FD between two sets: from their vectors when both kept them (small sets), else from the
    covariances, rooting the larger set's (the reference, compared again and again) once and keeping
    the root on it. Symmetric; which side is rooted depends only on the sizes, never on call order."""
    if a.vectors is not None and b.vectors is not None and a.dim == b.dim:
        return frechet_distance_samples(a.vectors, b.vectors)
    ref, other = (a, b) if a.n > b.n else (b, a)
    mu1, s1, mu2, s2 = checked_moments(ref.mu, ref.sigma, other.mu, other.sigma)
    fd, ref._root = frechet_distance_rooted(mu1, s1, ref._root, mu2, s2)
    return fd


# ---------------------------------------------------------------------------------------------
# Feature networks
# ---------------------------------------------------------------------------------------------
class FidFeatures(Protocol):
    """Images (B, 3, H, W) in [-1, 1] -> (B, D) features; ``describe()`` goes into every protocol."""

    spec: str
    dim: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    def describe(self) -> dict[str, Any]: ...


def _to_uint8_tensor(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> uint8 (B, 3, H, W), rounding like a PNG write."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


@contextlib.contextmanager
def _torch_fidelity_state(state: dict[str, torch.Tensor]):
    """Hand torch-fidelity a state dict that tokkit already read safely (weights_only=True).

    torch-fidelity's constructor reads a weights path with a full-pickle ``torch.load``; tokkit
    reads foreign files only with ``torch_load_weights``, so its download hook is pointed at the
    dict instead. The network, resize and forward pass are torch-fidelity's own.
    """
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    original = fe.load_state_dict_from_url
    fe.load_state_dict_from_url = lambda *a, **k: state
    try:
        yield fe
    finally:
        fe.load_state_dict_from_url = original


class InceptionFeatures:
    """Standard FID features: torch-fidelity's TF-exact InceptionV3 pool3 (2048-d)."""

    spec = "inception"
    dim = 2048

    def __init__(self, weights: str | Path | None = None, device: torch.device | str = "cpu"):
        from tokkit.io.checkpoint import torch_load_weights
        from tokkit.io.weights import resolve_weight_file

        path = resolve_weight_file(INCEPTION_FILE, INCEPTION_URL, weights, what="FID Inception")
        state = torch_load_weights(path)
        try:
            import torch_fidelity

            with _torch_fidelity_state(state) as fe:
                net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
        except RuntimeError as e:  # load_state_dict: missing/unexpected keys or shapes
            raise WeightsMissingError(
                f"'{path}' is not the torch-fidelity Inception state dict ({str(e).splitlines()[0]})",
                hint=f"use {INCEPTION_FILE}",
            ) from e
        self.net = net.to(device).eval()
        self.device = torch.device(device)
        self.weights_path = str(path)
        # identifies the file in cache keys: another file of the same name must not reuse statistics
        with open(path, "rb") as f:
            self.weights_id = f"{path.stat().st_size}-{hashlib.sha256(f.read(1 << 20)).hexdigest()[:12]}"
        self.implementation = f"torch-fidelity {torch_fidelity.__version__} FeatureExtractorInceptionV3 pool3"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        (out,) = self.net(_to_uint8_tensor(images).to(self.device))
        return out.double().cpu()

    def describe(self) -> dict[str, Any]:
        return {
            "network": "inception-v3 (TF inception-2015-12-05)",
            "spec": self.spec,
            "dim": self.dim,
            "implementation": self.implementation,
            "resize": "uint8 images, TF1-exact bilinear resize to 299 (torch-fidelity)",
            "weights": Path(self.weights_path).name,
            "weights_id": self.weights_id,
        }


class EncoderFeatures:
    """``pooled`` descriptors of a registered tokkit encoder (effnet-lite0, dinov2-b, ...)."""

    def __init__(self, spec: str, weights: str | Path | None = None, device: torch.device | str = "cpu"):
        try:
            from tokkit.encoders import create_encoder
        except ImportError as e:  # the encoders package is optional at import time
            raise UsageError(f"feature network '{spec}' needs tokkit.encoders, which is not available: {e}") from e
        kwargs: dict[str, Any] = {}
        if weights is not None:
            kwargs["weights"] = weights
        self.encoder = create_encoder(spec, **kwargs).to(device).eval()
        self.device = torch.device(device)
        self.spec = spec
        self.input_size = int(getattr(self.encoder, "input_size", 224) or 224)
        self.dim = int(getattr(self.encoder, "pooled_dim", 0) or 0)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        # Quantize to uint8 first, exactly as for Inception: features see what a PNG would hold.
        x = _to_uint8_tensor(images).float().div_(127.5).sub_(1.0).to(self.device)
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = torch.nn.functional.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False, antialias=True
            )
        out = self.encoder.pooled(x).double().cpu()
        self.dim = int(out.shape[1])
        return out

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            info = dict(self.encoder.describe())
        return {
            "network": self.spec,
            "spec": self.spec,
            "dim": self.dim or None,
            "implementation": f"tokkit encoder {type(self.encoder).__name__}.pooled",
            "resize": f"uint8 images, bilinear (antialias) resize to {self.input_size}",
            "encoder": info,
        }


#: Feature networks beyond the encoders: name -> factory(weights=, device=) -> FidFeatures.
FID_FEATURES: Registry[Callable[..., FidFeatures]] = Registry("feature network")
FID_FEATURES.register(
    "inception",
    lambda weights=None, device="cpu": InceptionFeatures(weights, device),
    help="standard FID: torch-fidelity TF-exact InceptionV3 pool3 (2048-d)",
)


def create_fid_features(
    spec: str, weights: str | Path | None = None, device: torch.device | str = "cpu"
) -> FidFeatures:
    """``inception``, another entry of FID_FEATURES, or any registered encoder spec (its ``pooled``)."""
    if spec in FID_FEATURES:
        return FID_FEATURES.create(spec, weights=weights, device=device)
    return EncoderFeatures(spec, weights, device)


# ---------------------------------------------------------------------------------------------
# Real-image statistics cache
# ---------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    root = os.environ.get("TOKKIT_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "tokkit"
    return base / "fid_stats"


def data_fingerprint(source: Any, n: int) -> str:
    """A cheap content hash (first, middle and last image of the first ``n``): a folder whose files
    changed under the same path gets a new cache entry."""
    from tokkit.data.decode import UnreadableImage

    h = hashlib.sha256()
    for i in sorted({0, (n - 1) // 2, n - 1}):
        try:
            img = np.ascontiguousarray(source.read(i))
        except UnreadableImage as e:  # a header-scanned folder: this file is skipped when read
            h.update(f"unreadable:{e}".encode())
            continue
        h.update(str(img.shape).encode())
        h.update(img.tobytes())
    return h.hexdigest()[:16]


def stats_key(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def load_cached_stats(payload: dict[str, Any]) -> FeatureStats | None:
    path = cache_dir() / f"{stats_key(payload)}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if json.loads(str(z["key"])) != json.loads(json.dumps(payload, sort_keys=True, default=str)):
                return None
            feats = np.array(z["features"]) if "features" in z.files else None
            vectors = np.array(z["vectors"]) if "vectors" in z.files else None
            return FeatureStats(np.array(z["mu"]), np.array(z["sigma"]), int(z["n"]), feats, vectors)
    except Exception as e:  # a damaged cache entry is recomputed, never trusted
        log.warning("ignoring unreadable feature-stats cache %s: %s", path, e)
        return None


def save_cached_stats(payload: dict[str, Any], stats: FeatureStats) -> Path:
    """Atomic write: temp file in the cache dir, then rename."""
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{stats_key(payload)}.npz"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                mu=stats.mu,
                sigma=stats.sigma,
                n=np.int64(stats.n),
                key=np.array(json.dumps(payload, sort_keys=True, default=str)),
                format=np.int64(STATS_FORMAT),
                **({"features": stats.features} if stats.features is not None else {}),
                **({"vectors": stats.vectors} if stats.vectors is not None else {}),
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def real_stats_payload(source: Any, n: int, image_size: int, features: FidFeatures) -> dict[str, Any]:
    """What identifies a real-image statistics entry: data, protocol and feature network."""
    desc = features.describe()
    return {
        "format": STATS_FORMAT,
        "data": source.identity(),
        "fingerprint": data_fingerprint(source, n),
        "num_images": n,
        "image_size": image_size,
        "transform": "resize shorter side (PIL bicubic, antialiased) + center crop",
        "features": {k: v for k, v in desc.items() if k != "dim"},
    }


def real_image_stats(
    source: Any,
    n: int,
    image_size: int,
    features: FidFeatures,
    batch_size: int = 32,
    use_cache: bool = True,
    device: torch.device | str = "cpu",
    partial_out: str | Path | None = None,
) -> tuple[FeatureStats, bool]:
    """Statistics of the first ``n`` images of ``source``; (stats, came_from_cache). Under torchrun each
    rank reads a contiguous share of the batches and rank 0 merges the sums (``tokkit.metrics.shards``);
    every rank returns the merged statistics. ``partial_out``: keep the running sums beside that file
    while the pass runs and continue from them (``tokkit.metrics.partial``)."""
    payload = real_stats_payload(source, n, image_size, features) if use_cache else None
    if payload is not None:
        cached = load_cached_stats(payload)
        if cached is not None:
            return cached, True
    from tokkit.metrics.shards import is_main_process

    key = {**real_stats_payload(source, n, image_size, features), "batch_size": batch_size}
    stats = _sharded_stats(source, n, image_size, features, batch_size, torch.device(device), partial_out, key)
    if payload is not None and is_main_process():  # one writer per torchrun job
        try:
            save_cached_stats(payload, stats)
        except OSError as e:  # a read-only cache must not fail the evaluation
            log.warning("could not cache feature statistics: %s", e)
    return stats, False


def _sharded_stats(source: Any, n: int, size: int, features: FidFeatures, batch_size: int, dev: Any,
                   partial_out: Any, key: dict[str, Any]) -> FeatureStats:  # fmt: skip
    """One pass over the first ``n`` images (this rank's share under torchrun), merged on rank 0."""
    from tokkit.data.dataset import iter_batches
    from tokkit.metrics.partial import PartialRun
    from tokkit.metrics.shards import eval_shard
    from tokkit.progress import task

    with eval_shard(dev, n, batch_size) as shard:
        partial = PartialRun(partial_out, {**key, "rows": [shard.start, shard.stop]}, shard.rank, shard.world)
        saved = partial.load()
        acc = StatsAccumulator.restore(saved[1], "real", None) if saved else StatsAccumulator()
        begin = int(saved[0]["next_row"]) if saved else shard.start
        with task(f"Real-image features ({features.spec})", total=shard.stop - shard.start) as t:
            t.advance(begin - shard.start)
            for row, x, _ in iter_batches(source, size, batch_size, begin, shard.stop):
                acc.add(features(x))
                t.advance(len(x))
                if partial.due():
                    partial.save({"next_row": min(row + batch_size, shard.stop)}, acc.state_arrays("real"), {})
        shares = shard.gather(acc)
        return shard.broadcast(merge_accumulators(shares).stats() if shard.is_main else None)


__all__ = [
    "INCEPTION_FILE",
    "FID_FEATURES",
    "EncoderFeatures",
    "FeatureStats",
    "FidFeatures",
    "InceptionFeatures",
    "StatsAccumulator",
    "create_fid_features",
    "feature_stats",
    "frechet_distance",
    "frechet_distance_stats",
    "real_image_stats",
]

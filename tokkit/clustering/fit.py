"""``tokkit fit-kmeans``: points (a feature file, or an encoder run over images) -> k-means ->
a k-means tokenizer checkpoint. Feature files are read through ``tokkit.data.features`` (tokkit
stores, any HDF5 with ``features``, .npy, .npy shards).

The sample: ``sample`` points drawn uniformly without replacement from all N * T feature
vectors (default K * 256, faiss's own cap, but decided and reported here, never silent); all
points when there are fewer. Under ``torchrun`` (torch backend, feature store input) each rank
reads only its contiguous share of the sample.

With ``--features``, the faiss backend and random init, nothing here imports torch: the points,
the k-means and the checkpoint are numpy, so peak memory is the points plus faiss.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tokkit.errors import DataError, StoreError, UsageError
from tokkit.progress import task

if TYPE_CHECKING:
    import torch

log = logging.getLogger("tokkit.clustering")

POINTS_PER_CENTROID = 256
READ_ROWS = 256


@dataclass
class Points:
    x: np.ndarray  # (n_local, D) float32
    n_total: int  # points in the sample over all ranks
    offset: int  # global sample position of x[0]
    available: int  # N * T vectors that the sample was drawn from
    attrs: dict[str, Any]


def sample_positions(available: int, sample: int | None, k: int, seed: int) -> np.ndarray:
    """Sorted flat positions (image * T + token) of the points used."""
    want = k * POINTS_PER_CENTROID if sample is None else int(sample)
    if want < 1:
        raise UsageError(f"--sample must be >= 1, got {want}")
    if want >= available:
        return np.arange(available, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(available, size=want, replace=False)).astype(np.int64)


def _shard(pos: np.ndarray) -> tuple[np.ndarray, int]:
    from tokkit.clustering.kmeans import _dist

    _, rank, world = _dist()
    bounds = np.linspace(0, len(pos), world + 1).astype(np.int64)
    return pos[bounds[rank] : bounds[rank + 1]], int(bounds[rank])


def points_from_store(src: Any, k: int, sample: int | None, seed: int) -> Points:
    """The sample from a ``FeatureSource`` (tokkit store, HDF5, .npy or .npy shards), read in row
    blocks: only the blocks holding sampled points are read, memory-mapped files are never loaded whole."""
    n, t, d = src.shape
    pos = sample_positions(n * t, sample, k, seed)
    total = len(pos)
    mine, offset = _shard(pos)
    out = np.empty((len(mine), d), np.float32)
    rows = mine // t
    filled = 0
    with task(f"Reading {src.path.name}", total=len(mine)) as bar:
        for r0 in range(int(rows[0]) if len(rows) else 0, int(rows[-1]) + 1 if len(rows) else 0, READ_ROWS):
            lo, hi = np.searchsorted(rows, [r0, r0 + READ_ROWS])
            if lo == hi:
                continue
            block = src.read(r0, r0 + READ_ROWS)
            sel = mine[lo:hi] - r0 * t
            flat = block.reshape(-1, d)
            # all points of the block (the default when K*256 covers the data): no gather copy
            out[filled : filled + (hi - lo)] = flat if hi - lo == len(flat) else flat[sel]
            filled += hi - lo
            bar.advance(int(hi - lo))
    return Points(out, total, offset, n * t, dict(src.attrs))


def points_from_encoder(
    encoder: Any, data: str, image_size: int, k: int, sample: int | None, seed: int, batch_size: int, dev: torch.device,
    verify: bool = False,
) -> Points:  # fmt: skip
    """The sample from encoding ``data``: positions are drawn over all listed images; those of an
    image skipped at read time (it did not decode) are left out, the same ones on every run."""
    import torch

    from tokkit.clustering.kmeans import _dist
    from tokkit.data import iter_batches, open_source
    from tokkit.data.skips import SkipLog

    if _dist()[0]:
        raise UsageError("under torchrun, give --features (run tokkit extract first)")
    source = open_source(data, verify=verify)
    gh, gw = encoder.grid(image_size)
    t = gh * gw
    pos = sample_positions(len(source) * t, sample, k, seed)
    out = np.empty((len(pos), encoder.dim), np.float32)
    filled = 0
    with task(f"Encoding {data}", total=len(source)) as bar, torch.inference_mode():
        for _, images, idx in iter_batches(source, image_size, batch_size):
            f = encoder(images.to(dev)).flatten(2).transpose(1, 2).float().cpu().numpy()  # (B, T, D)
            index = idx.numpy()
            lo, hi = np.searchsorted(pos, [int(index[0]) * t, (int(index[-1]) + 1) * t])
            p = pos[lo:hi]
            slot = np.minimum(np.searchsorted(index, p // t), len(index) - 1)
            ok = index[slot] == p // t  # positions of images of this batch that decoded
            got = f[slot[ok], p[ok] % t]
            out[filled : filled + len(got)] = got
            filled += len(got)
            bar.advance(len(images))
    attrs = {"source_spec": data, "grid": [gh, gw], "image_size": image_size, **SkipLog(source).summary()}
    return Points(out[:filled], filled, 0, len(source) * t, attrs)


def fit_kmeans(
    k: int,
    out: str | Path,
    *,
    encoder: str | None = None,
    data: str | None = None,
    features: str | Path | None = None,
    layer: str | int | None = None,
    image_size: int | None = None,
    l2_normalize: bool = False,
    weights: str | None = None,
    random_init: bool = False,
    niter: int = 20,
    tol: float | None = None,
    sample: int | None = None,
    init: str = "kmeans++",
    spherical: bool = False,
    seed: int = 1234,
    backend: str = "faiss",
    gpu: bool = False,
    device: str = "auto",
    batch_size: int = 32,
    init_sample: int | None = None,
    grid: str | None = None,
    verify: bool = False,
) -> dict[str, Any]:
    """Fit the codebook and write the checkpoint to ``out``; returns the ``--json`` summary plus
    ``out``, ``sample`` (points used), ``points_available``, ``init_sample``, ``device``.

    ``features``: any file ``tokkit.data.features.open_features`` reads. For features from
    elsewhere (no tokkit attrs) ``encoder`` (with ``layer``, ``image_size``, ``weights``) optionally
    names the encoder they came from; without it the codebook records that it has no image encoder.
    ``tol``: early stopping (None: faiss's default rule, 0: every iteration)."""
    from tokkit.clustering.kmeans import DEFAULT_TOL
    from tokkit.device import resolve_device

    if (features is None) == (data is None):
        raise UsageError("give either --features F (a feature file) or --encoder E with --data D")
    if data is not None and encoder is None:
        raise UsageError("--data needs --encoder E (the features to cluster)")
    if data is not None and grid is not None:
        raise UsageError("--grid describes a --features file; the encoder gives the grid of --data")
    if k < 1:
        raise UsageError(f"--k must be >= 1, got {k}")
    tol = DEFAULT_TOL if tol is None else float(tol)
    if not tol >= 0:
        raise UsageError(f"--tol must be >= 0, got {tol}")
    if backend == "faiss" and not gpu:  # before any encoding: a missing faiss is known now
        from tokkit.clustering.faiss_import import import_faiss

        import_faiss()
    # the device matters to the torch backend and the encoder only: the faiss path stays torch-free
    dev = resolve_device(device) if backend == "torch" or features is None else None
    with _torchrun_group(backend, dev):
        return _fit(
            k, out, encoder, data, features, layer, image_size, l2_normalize, weights, random_init, niter, tol,
            sample, init, spherical, seed, backend, gpu, dev, batch_size, init_sample, grid, verify,
        )  # fmt: skip


def _config_from_features(
    src: Any, k: int, spherical: bool, l2_normalize: bool, encoder: str | None, layer: Any,
    image_size: int | None, weights: str | None, random_init: bool,
) -> tuple[Any, str | None]:  # fmt: skip
    """The tokenizer config of a codebook fit on ``src``: the encoder a tokkit store records, the
    one named by ``--encoder`` for features from elsewhere, or none (``encoder=None``)."""
    from tokkit.clustering.config import KMeansConfig, store_identity

    a = src.attrs
    names_encoder = encoder is not None or layer is not None or weights or random_init or image_size
    common = dict(spherical=spherical, codebook_size=k, dim=src.dim, fitted_on=store_identity(a))
    if not src.external:
        if names_encoder:
            raise UsageError(
                "--encoder/--layer/--weights/--random-init/--image-size describe an encoder; "
                f"'{src.path}' was written by tokkit extract and records its own"
            )
        for key in ("encoder", "layer", "image_size"):
            if key not in a:
                raise StoreError(f"'{src.path}' lacks the '{key}' attribute: not written by tokkit extract")
        store_weights = a.get("weights") or None
        cfg = KMeansConfig(
            encoder=str(a["encoder"]),
            layer=str(a["layer"]),
            image_size=int(a["image_size"]),
            l2_normalize=bool(a.get("l2_normalize", False)) or l2_normalize,
            encoder_weights=None if store_weights in (None, "random-init") else str(store_weights),
            random_init=store_weights == "random-init",
            **common,
        )
        return cfg, a.get("source_spec")
    if encoder is None and names_encoder:
        raise UsageError("--layer/--weights/--random-init/--image-size need --encoder E to describe")
    if encoder is None:  # features from elsewhere, encoder unknown: tokenize --features only
        return KMeansConfig(encoder=None, layer=None, image_size=None, l2_normalize=l2_normalize, **common), None
    from tokkit.encoders import create_encoder

    enc = create_encoder(encoder, layer=layer, weights=weights, random_init=True, l2_normalize=l2_normalize)
    size = int(image_size or enc.input_size)
    if enc.dim != src.dim:
        raise DataError(f"--encoder {encoder} gives {enc.dim}-d features, '{src.path}' holds {src.dim}-d ones")
    if src.grid is not None and tuple(enc.grid(size)) != tuple(src.grid):
        raise DataError(
            f"--encoder {encoder} at {size} px gives a {enc.grid(size)} grid, '{src.path}' has {list(src.grid)}",
            hint="give the --image-size the features were extracted at",
        )
    cfg = KMeansConfig(
        encoder=enc.spec,
        layer=str(getattr(enc, "layer", "last")),
        image_size=size,
        l2_normalize=l2_normalize,
        encoder_weights=str(Path(weights).resolve()) if weights else None,
        random_init=random_init,
        **common,
    )
    return cfg, None


@contextlib.contextmanager
def _torchrun_group(backend: str, dev: torch.device | None) -> Iterator[None]:
    """Under torchrun (WORLD_SIZE > 1) join the process group for the torch backend: gloo on CPU,
    nccl on CUDA. Outside torchrun, or when the caller already set one up, do nothing."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield
        return
    import torch
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        yield
        return
    if backend != "torch":
        raise UsageError("under torchrun, fit-kmeans needs --backend torch (faiss runs in one process)")
    if dev is not None and dev.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if dev is not None and dev.type == "cuda" else "gloo")
    try:
        yield
        dist.barrier()
    finally:
        dist.destroy_process_group()


@dataclass(frozen=True)
class _EncoderArgs:
    """The encoder options of fit-kmeans: the encoder to run over ``--data``, or the one ``--features`` came from."""

    encoder: str | None
    layer: str | int | None
    image_size: int | None
    l2_normalize: bool
    weights: str | None
    random_init: bool


@dataclass(frozen=True)
class _Origin:
    """What the checkpoint records about the points: the tokenizer config, the data spec, the feature file."""

    cfg: Any
    data_spec: str | None
    feature_info: dict[str, Any] | None


def _points_from_features(
    features: str | Path, grid: str | None, e: _EncoderArgs, k: int, sample: int | None, seed: int, spherical: bool
) -> tuple[Points, _Origin]:
    from tokkit.data.features import open_features

    with open_features(features, grid=grid) as src:
        cfg, data_spec = _config_from_features(
            src, k, spherical, e.l2_normalize, e.encoder, e.layer, e.image_size, e.weights, e.random_init
        )
        pts = points_from_store(src, k, sample, seed)
        feature_info = src.describe()
    if e.l2_normalize and not pts.attrs.get("l2_normalize", False):
        pts.x /= np.maximum(np.linalg.norm(pts.x, axis=1, keepdims=True), 1e-12)
    return pts, _Origin(cfg, data_spec, feature_info)


def _points_from_data(
    data: str, e: _EncoderArgs, k: int, sample: int | None, seed: int, spherical: bool, batch_size: int,
    dev: torch.device, verify: bool,
) -> tuple[Points, _Origin]:  # fmt: skip
    from tokkit.clustering.config import KMeansConfig
    from tokkit.encoders import create_encoder

    enc = create_encoder(e.encoder, layer=e.layer, weights=e.weights, random_init=e.random_init,
                         l2_normalize=e.l2_normalize)  # fmt: skip
    enc = enc.to(dev)
    size = int(e.image_size or enc.input_size)
    pts = points_from_encoder(enc, data, size, k, sample, seed, batch_size, dev, verify=verify)
    cfg = KMeansConfig(
        encoder=enc.spec,
        layer=str(getattr(enc, "layer", "last")),
        image_size=size,
        l2_normalize=e.l2_normalize,
        spherical=spherical,
        codebook_size=k,
        dim=int(enc.dim),
        encoder_weights=str(Path(e.weights).resolve()) if e.weights else None,
        random_init=e.random_init,
    )
    return pts, _Origin(cfg, data, None)


def _check_points(pts: Points, k: int, where: str) -> None:
    from tokkit.clustering.kmeans import _all_finite, _dist

    if pts.n_total < k:
        raise DataError(
            f"--k {k} is larger than the number of points ({pts.n_total} feature vectors)",
            hint="lower --k or give more images",
        )
    if not _all_finite(pts.x):
        raise DataError(f"the features from {where} contain NaN or inf values", hint="check the encoder and the images")
    if _dist()[1] == 0:
        log.info("k-means on %d of %d feature vectors (dim %d, K=%d)", pts.n_total, pts.available, pts.x.shape[1], k)


def _summarise(result: Any, pts: Points, out: str | Path, spherical: bool, seed: int) -> dict[str, Any]:
    return {
        **result.summary(),
        "out": str(out),
        "sample": pts.n_total,
        "points_available": pts.available,
        "init_sample": result.init_sample,
        "device": result.device,
        "spherical": spherical,
        "seed": seed,
        "num_skipped": int(pts.attrs.get("num_skipped", 0)),
        "skipped": list(pts.attrs.get("skipped", []))[:20],
    }


def _save(out: str | Path, origin: _Origin, centroids: np.ndarray, info: dict[str, Any], features: Any) -> None:
    from dataclasses import asdict

    from tokkit.io.checkpoint import save_array_checkpoint
    from tokkit.io.provenance import provenance

    prov = provenance(data=origin.data_spec, features=str(features) if features else None, sample=info["sample"])
    if origin.feature_info is not None:
        prov["feature_source"] = origin.feature_info
    state = {"centroids": centroids}
    save_array_checkpoint(
        out, "kmeans", "discrete", asdict(origin.cfg), state, provenance=prov, extra_files={"kmeans.json": info}
    )


def _fit(
    k, out, encoder, data, features, layer, image_size, l2_normalize, weights, random_init, niter, tol, sample,
    init, spherical, seed, backend, gpu, dev, batch_size, init_sample, grid, verify,
) -> dict[str, Any]:  # fmt: skip
    from tokkit.clustering.kmeans import _dist, kmeans

    if dev is not None and dev.type == "cuda" and _dist()[0]:
        import torch

        dev = torch.device("cuda", torch.cuda.current_device())
    e = _EncoderArgs(encoder, layer, image_size, l2_normalize, weights, random_init)
    if features is not None:
        pts, origin = _points_from_features(features, grid, e, k, sample, seed, spherical)
    else:
        pts, origin = _points_from_data(data, e, k, sample, seed, spherical, batch_size, dev, verify)
    _check_points(pts, k, features if features is not None else f"{encoder} on {data}")
    result = kmeans(
        pts.x,
        k,
        niter=niter,
        tol=tol,
        init=init,
        seed=seed,
        spherical=spherical,
        backend=backend,
        gpu=gpu,
        device=dev if backend == "torch" and dev is not None else "cpu",
        n_total=pts.n_total,
        offset=pts.offset,
        init_sample=init_sample,
        check_finite=False,  # checked above, with the file name in the message
    )
    info = _summarise(result, pts, out, spherical, seed)
    if _dist()[1] == 0:
        del pts  # the points are no longer needed: free them before writing
        _save(out, origin, result.centroids, info, features)
    return info

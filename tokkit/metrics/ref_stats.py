"""Reference-statistics files (issue 19): ``tokkit eval stats`` writes them, ``--ref-stats`` reads them.

Written: an npz with ``mu`` (D,) and ``sigma`` (D, D) float64 (pytorch-fid's layout, so pytorch-fid
and clean-fid read it), ``n``, and ``protocol``: a 0-d string array holding the JSON protocol.

Read (``load_ref_stats``), in this order:
- a tokkit file (``protocol`` present): its ``mu``/``sigma``; the feature spec must match;
- an ADM reference batch (``arr_0`` (N, H, W, 3) uint8): with Inception features and ``mu``/``sigma``
  present, those (ADM computed them in Inception space); otherwise statistics of the ``arr_0`` images
  in the chosen feature space;
- a pytorch-fid file (``mu``/``sigma`` only): taken as they are; only the dimension can be checked.
A dimension that does not match the features, or a file with neither statistics nor images, is a
one-line ``DataError``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokkit.errors import DataError
from tokkit.metrics.fid import FeatureStats, StatsAccumulator

REF_FORMAT = 1


def _open_npz(path: str | Path) -> Any:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no such reference-statistics file '{p}'", hint="write one with tokkit eval stats")
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"'{p}' is not an .npz statistics file: {e}") from e


def _images_stats(arr: np.ndarray, feats: Any, batch_size: int, device: Any) -> FeatureStats:
    """Statistics of uint8 NHWC images (an ADM batch) in the space of ``feats``."""
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise DataError(f"arr_0 must be (N, H, W, 3) uint8 images, got {arr.shape} {arr.dtype}")
    acc = StatsAccumulator()
    with torch.no_grad():
        for b0 in range(0, len(arr), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(arr[b0 : b0 + batch_size])).permute(0, 3, 1, 2)
            acc.add(feats(x.float().div_(127.5).sub_(1.0).to(device)))
    return acc.stats()


def _check_dim(stats: FeatureStats, feats: Any, path: Any) -> FeatureStats:
    if stats.mu.ndim != 1 or stats.sigma.shape != (stats.dim, stats.dim):
        raise DataError(f"'{path}': mu {stats.mu.shape} and sigma {stats.sigma.shape} do not fit together")
    if stats.dim != int(feats.dim):
        raise DataError(
            f"'{path}' holds {stats.dim}-d statistics but --fid-features {feats.spec} gives {feats.dim}-d features",
            hint="use the feature network the file was made with",
        )
    return stats


def load_ref_stats(path: str | Path, feats: Any, batch_size: int = 32, device: Any = "cpu") -> tuple[FeatureStats, str]:
    """(statistics, kind) with kind "tokkit" | "pytorch-fid" | "adm-stats" | "adm-images"."""
    with _open_npz(path) as z:
        keys = set(z.files)
        has_stats = {"mu", "sigma"} <= keys
        n = int(z["n"]) if "n" in keys else 0
        if "protocol" in keys and has_stats:
            spec = json.loads(str(z["protocol"])).get("features", {}).get("spec")
            if spec is not None and spec != feats.spec:
                raise DataError(f"'{path}' was made with --fid-features {spec}, not {feats.spec}")
            return _check_dim(FeatureStats(z["mu"], z["sigma"], n), feats, path), "tokkit"
        if "arr_0" in keys:
            if has_stats and feats.spec == "inception":  # ADM's own Inception-space statistics
                return _check_dim(FeatureStats(z["mu"], z["sigma"], n), feats, path), "adm-stats"
            return _images_stats(z["arr_0"], feats, batch_size, device), "adm-images"
        if has_stats:
            return _check_dim(FeatureStats(z["mu"], z["sigma"], n), feats, path), "pytorch-fid"
    raise DataError(f"'{path}' holds neither statistics (mu, sigma) nor images (arr_0)")


def ref_fd(path: str | Path, feats: Any, fake: FeatureStats, batch_size: int, device: Any) -> dict[str, Any]:
    """The Frechet distance of ``fake`` against the file, with what the file was."""
    from tokkit.metrics.fid import frechet_distance_stats

    ref, kind = load_ref_stats(path, feats, batch_size, device)
    out = {"fd": frechet_distance_stats(ref, fake), "file": str(path), "kind": kind, "ref_n": ref.n}
    if kind == "tokkit":  # what the file was made from, so that a mismatch with the evaluated images shows
        with _open_npz(path) as z:
            out["data_fingerprint"] = json.loads(str(z["protocol"])).get("data_fingerprint")
    return out


def write_ref_stats(
    data: Any,
    out: str | Path,
    fid_features: str | Any = "effnet-lite0",
    weights: str | Path | None = None,
    num_images: int | None = None,
    image_size: int = 256,
    batch_size: int = 32,
    crop: str | None = None,
    device: str = "auto",
    use_cache: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """Feature statistics of the first ``num_images`` images of ``data`` -> ``out`` (npz, see the module doc).
    The running sums are kept in ``OUT.partial/`` while the pass runs; ``resume`` continues a killed run.
    Returns {"out", "num_images", "feature_dim", "protocol"}."""
    from tokkit.device import resolve_device
    from tokkit.metrics import _common as C
    from tokkit.metrics.fid import create_fid_features, real_image_stats
    from tokkit.metrics.partial import check_partial, partial_dir
    from tokkit.metrics.shards import is_main_process, rank_device

    dev = rank_device(resolve_device(device) if isinstance(device, str) else device)
    source = C.resolve_source(data, crop)
    warnings: list[str] = []
    n = C.resolve_num_images(source, num_images, warnings)
    feats = create_fid_features(fid_features, weights, dev) if isinstance(fid_features, str) else fid_features
    check_partial(out, resume)
    stats, cached = real_image_stats(source, n, int(image_size), feats, batch_size, use_cache, dev, out)
    protocol = {"format": REF_FORMAT, "num_images": n, "image_size": int(image_size),
                "transform": C.transform_name(source), **C.fingerprints(source, n, feats),
                "data": getattr(source, "spec", str(data)), "features": feats.describe(),
                "real_stats": "cache" if cached else "computed", "warnings": warnings}  # fmt: skip
    protocol["processes"] = int(os.environ.get("WORLD_SIZE", "1"))
    out = Path(out)
    if is_main_process():  # one writer per torchrun job; atomic: a kill never leaves half a file
        import io

        from tokkit.io.files import write_bytes_atomic

        buf = io.BytesIO()
        np.savez(buf, mu=stats.mu, sigma=stats.sigma, n=np.int64(stats.n), protocol=np.array(json.dumps(protocol)))
        out.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(out, buf.getvalue())
        shutil.rmtree(partial_dir(out), ignore_errors=True)  # the file first, then the partial sums go
    return {"out": str(out), "num_images": n, "feature_dim": stats.dim, "protocol": protocol}

"""Helpers shared by the evaluation passes: resolve a tokenizer, data and image size; check they fit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tokkit.errors import DataError, UsageError
from tokkit.tokenizers._base import TokenBatch, Tokenizer

TRANSFORM = "resize shorter side (PIL bicubic, antialiased) + center crop"
ADM_TRANSFORM = "guided-diffusion center_crop_arr: BOX halving while shorter side >= 2S, PIL bicubic, center crop"
PIXEL_RANGE = "[-1,1] float into the tokenizer; uint8 [0,255] into the feature networks"


def transform_name(source: Any) -> str:
    """The ``transform`` protocol entry for the source's crop (unchanged text for center)."""
    return ADM_TRANSFORM if getattr(source, "crop", "center") == "adm" else TRANSFORM


FINGERPRINT_KEYS = ("data_fingerprint", "crop", "pixel_range", "feature_weights_sha256", "tokkit_version")


def fingerprints(source: Any, n: int | None, features: Any = None) -> dict[str, Any]:
    """Protocol fields every result carries (issue 19): what data, which crop, which pixel range,
    which feature weights (sha256 of the weight file, None when there is no file) and tokkit."""
    from tokkit import __version__

    fp = getattr(source, "fingerprint", None)
    return {
        "data_fingerprint": fp(n) if callable(fp) else None,
        "crop": getattr(source, "crop", "center"),
        "pixel_range": PIXEL_RANGE,
        "feature_weights_sha256": weights_sha256(features),
        "tokkit_version": __version__,
        **skipped_images(source),
    }


def skipped_images(source: Any) -> dict[str, Any]:
    """``skipped_images`` {num, paths (first 20)} when files of a folder were left out (header
    unreadable at the scan, or pixels failing where read); {} when none was."""
    unreadable, skipped = getattr(source, "unreadable", []), getattr(source, "skipped", {})
    if not unreadable and not skipped:
        return {}
    from tokkit.data.skips import MAX_LISTED

    paths = [u.path for u in unreadable] + [u.path for _, u in sorted(skipped.items())]
    return {"skipped_images": {"num": len(paths), "paths": paths[:MAX_LISTED]}}


_SHA_CACHE: dict[tuple[str, int, float], str] = {}


def weights_sha256(features: Any) -> str | None:
    """sha256 of the feature network's weight file (cached per path, size and mtime)."""
    if isinstance(features, (str, Path)):  # a --weights path given as such
        path: Any = features
    else:
        path = getattr(features, "weights_path", None) or getattr(
            getattr(features, "encoder", None), "weights_path", None
        )
    if not path or not Path(path).is_file():
        return None
    from tokkit.io.files import sha256_file

    st = Path(path).stat()
    key = (str(path), st.st_size, st.st_mtime)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def resolve_tokenizer(tokenizer: str | Path | Tokenizer, device: torch.device) -> Tokenizer:
    if isinstance(tokenizer, Tokenizer):
        return tokenizer.to(device).eval()
    from tokkit.io.checkpoint import load_tokenizer

    return load_tokenizer(tokenizer, device)


def resolve_source(data: Any, crop: str | None = None) -> Any:
    """A spec or an open source; ``crop`` (center | adm, None = the source's own) is set on it.

    A folder is scanned by headers only: decoding all 50,000 files of a validation folder up front
    (and again when read) cost more than the evaluation of a few hundred of them; a file whose
    pixels fail is skipped where it is read, and named in the result."""
    from tokkit.data.sources import open_source, set_crop

    if isinstance(data, (str, Path)):
        return open_source(str(data), verify=False, crop=crop)
    if crop is not None:
        set_crop(data, crop)
    return data


@dataclass
class EvalInputs:
    """What every evaluation pass starts from: the tokenizer on its device, the data, N and S."""

    tok: Tokenizer
    source: Any
    num_images: int
    image_size: int
    device: torch.device
    warnings: list[str] = field(default_factory=list)


def prepare(
    tokenizer: str | Path | Tokenizer,
    data: Any,
    num_images: int | None,
    image_size: int | None,
    batch_size: int,
    device: str | torch.device,
    crop: str | None = None,
) -> EvalInputs:
    """Check the batch size, then resolve device, tokenizer, data, image count and image size."""
    from tokkit.device import resolve_device

    if batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {batch_size}")
    from tokkit.metrics.shards import rank_device

    dev = rank_device(resolve_device(device) if isinstance(device, str) else device)
    tok = resolve_tokenizer(tokenizer, dev)
    source = resolve_source(data, crop)
    warnings: list[str] = []
    n = resolve_num_images(source, num_images, warnings)
    return EvalInputs(tok, source, n, resolve_image_size(tok, source, image_size), dev, warnings)


def tokenizer_info(tok: Tokenizer) -> dict[str, Any]:
    return {
        "path": getattr(tok, "checkpoint_path", None),
        "architecture": tok.architecture,
        "kind": tok.kind,
        "codebook_size": tok.codebook_size,
        "downsample_factor": tok.downsample_factor,
    }


def resolve_image_size(tok: Tokenizer, source: Any, image_size: int | None) -> int:
    """``--image-size``, else the tokenizer's own (configured or trained) size, else the builtin set's, else 256."""
    if image_size is None:
        image_size = tok.native_image_size or getattr(source, "size", None) or 256
    image_size = int(image_size)
    if image_size < 8:
        raise UsageError(f"--image-size {image_size} is too small (minimum 8)")
    try:
        tok.token_shape(image_size)  # raises UsageError when the size does not fit the tokenizer
    except UsageError as e:
        raise UsageError(
            f"tokenizer '{tok.architecture}' cannot take {image_size}x{image_size} images: {e.message}",
            hint=e.hint or f"use an --image-size that is a multiple of {tok.downsample_factor}",
        ) from e
    return image_size


def resolve_num_images(source: Any, num_images: int | None, warnings: list[str]) -> int:
    total = len(source)
    if num_images is None:
        return total
    if num_images < 1:
        raise UsageError(f"--num-images must be >= 1, got {num_images}")
    if num_images > total:
        warnings.append(f"asked for {num_images} images but the data holds {total}: used {total}")
        return total
    return int(num_images)


def check_batch_shapes(tok: Tokenizer, x: torch.Tensor, tokens: TokenBatch, recon: torch.Tensor | None) -> None:
    """A tokenizer that silently returns the wrong size is a size mismatch with the data: say so."""
    if recon is not None and tuple(recon.shape) != tuple(x.shape):
        raise DataError(
            f"tokenizer '{tok.architecture}' turned images {tuple(x.shape[1:])} into reconstructions "
            f"{tuple(recon.shape[1:])}: the image size does not fit this tokenizer",
            hint="pass the --image-size it was trained at",
        )
    if tokens.kind != tok.kind:
        raise DataError(f"tokenizer declares kind '{tok.kind}' but encode returned '{tokens.kind}'")


def quantized_vectors(tok: Tokenizer, tokens: TokenBatch) -> torch.Tensor | None:
    """(B, D, h, w) quantized vectors: ``tokens.quantized`` or, for a single-scale codebook, its rows."""
    if tokens.quantized is not None:
        return tokens.quantized
    cb = tok.codebook
    if tokens.kind == "discrete" and cb is not None and isinstance(tokens.indices, torch.Tensor):
        return cb.to(tokens.indices.device)[tokens.indices].permute(0, 3, 1, 2)
    return None

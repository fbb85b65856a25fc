"""Decode one image file to RGB uint8, whatever its mode.

Grayscale, palette, CMYK, 16-bit and alpha images are converted, never rejected; truncated,
empty or non-image files raise ``UnreadableImage``. EXIF orientation is applied.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

# Decompression-bomb guard stays on, but at a limit that admits real large photographs.
Image.MAX_IMAGE_PIXELS = 40_000 * 40_000
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is unreadable, not silently grey


class UnreadableImage(Exception):
    pass


def _to_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16/32-bit single channel: scale by the type's range (PIL's convert would clip at 255).
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(arr.max()), 1.0)
        if mode == "F" and arr.max() <= 1.0:
            top = 1.0
        gray = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    if mode == "RGB":
        return np.asarray(img)
    if mode in ("RGB;16", "BGR;16") or img.mode.startswith("RGB") and len(img.getbands()) == 3:
        return np.asarray(img.convert("RGB"))
    return np.asarray(img.convert("RGB"))  # L, 1, P, CMYK, YCbCr, LAB, HSV


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB. Raises ``UnreadableImage`` with a short reason."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise UnreadableImage("empty file")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL warns on odd EXIF/ICC chunks; the pixels are what count
            with Image.open(path) as img:
                img.load()  # full decode: catches truncated data
                ImageOps.exif_transpose(img, in_place=True)  # no copy when there is nothing to rotate
                arr = _to_rgb(img)
    except UnreadableImage:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise UnreadableImage(str(e) or e.__class__.__name__) from e
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise UnreadableImage(f"unexpected decoded shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) from the header, after EXIF rotation."""
    with Image.open(path) as img:
        w, h = img.size
        orientation = img.getexif().get(0x0112, 1)
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def header_size(path: str | Path) -> tuple[int, int]:
    """(H, W) after EXIF rotation from the header alone (no pixel decode). Raises ``UnreadableImage``
    for empty files, non-images and headers PIL cannot parse; a file whose pixel data is damaged
    passes here and fails later in ``read_image``. Kept lean: it runs once per file of a scan."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            # EXIF is parsed only when the file has it (most JPEGs from cameras, few elsewhere)
            orientation = 1
            if "exif" in img.info:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # odd EXIF chunks: the size is what counts
                    orientation = img.getexif().get(0x0112, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            raise UnreadableImage("empty file") from e
        raise UnreadableImage(str(e) or e.__class__.__name__) from e
    if h <= 0 or w <= 0:
        raise UnreadableImage(f"header gives size {w}x{h}")
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)

"""Builtin image sets that need no download.

- ``builtin:photos``: deterministic square crops of the real photographs bundled with
  scikit-image and scikit-learn, resized to ``size``. Options ``n`` (count), ``size``, ``seed``.
- ``builtin:shapes``: procedural images (gradient background, circles/boxes/triangles), for tests.

Options follow the name: ``builtin:photos:n=64,size=128``.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
from PIL import Image, ImageDraw

from tokkit.data.sources import DATASETS, GeneratedSource
from tokkit.errors import DataError

# scikit-image photographs that ship inside the package (no pooch download needed).
SKIMAGE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "camera",
    "coins",
    "moon",
    "page",
    "text",
    "grass",
    "gravel",
    "brick",
    "clock",
)
MIN_PHOTO_SIDE = 128
log = logging.getLogger("tokkit.data")


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([k % 2**32 for k in keys]))


@functools.lru_cache(maxsize=1)
def photo_library() -> tuple[tuple[str, np.ndarray], ...]:
    """(name, (H, W, 3) uint8) for every bundled photograph that loads offline."""
    import skimage.data

    photos = []
    for name in SKIMAGE_PHOTOS:
        loader = getattr(skimage.data, name, None)
        if loader is None:
            continue
        try:
            img = np.asarray(loader())
        except Exception as e:  # a photo that would need a download is not in the set: say so
            log.warning("builtin:photos: scikit-image photo '%s' did not load (%s); the set differs", name, e)
            continue
        if img.dtype != np.uint8:
            img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3]
        if min(img.shape[:2]) >= MIN_PHOTO_SIDE:
            photos.append((name, np.ascontiguousarray(img)))
    try:
        from sklearn.datasets import load_sample_images

        sk = load_sample_images()
        for fname, img in zip(sk.filenames, sk.images, strict=True):
            photos.append((f"sklearn-{fname.rsplit('/', 1)[-1].split('.')[0]}", np.asarray(img, dtype=np.uint8)))
    except Exception:
        pass
    if not photos:
        raise DataError("no bundled photographs could be loaded", hint="reinstall scikit-image")
    return tuple(photos)


def photo_crop(i: int, size: int, seed: int) -> np.ndarray:
    """Crop ``i``: photo ``i % P``, side 40-100% of its shorter side at a seeded position, resized."""
    photos = photo_library()
    _, img = photos[i % len(photos)]
    rng = _rng(seed, i)
    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(0.4, 1.0))
    top = int(rng.integers(0, h - side + 1))
    left = int(rng.integers(0, w - side + 1))
    crop = img[top : top + side, left : left + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.BICUBIC))


def shape_image(i: int, size: int, seed: int) -> np.ndarray:
    rng = _rng(seed, i, 7)
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, size)[:, None, None]
    img = Image.fromarray(((1 - t) * c0 + t * c1).repeat(size, axis=1).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 5))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = rng.integers(0, size, 2)
        r = int(rng.integers(size // 10, size // 3 + 1))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=color)
        elif kind == 1:
            draw.rectangle([x0 - r, y0 - r // 2, x0 + r, y0 + r // 2], fill=color)
        else:
            draw.polygon([(x0, y0 - r), (x0 - r, y0 + r), (x0 + r, y0 + r)], fill=color)
    return np.asarray(img)


def _int_option(value: str | int, name: str, lo: int = 1) -> int:
    try:
        v = int(value)
    except ValueError as e:
        raise DataError(f"data option {name}={value!r} is not an integer") from e
    if v < lo:
        raise DataError(f"data option {name}={v} must be >= {lo}")
    return v


@DATASETS.register("builtin:photos", help="crops of the real photographs bundled with scikit-image/scikit-learn")
def builtin_photos(spec: str = "builtin:photos", n: str | int = 256, size: str | int = 256, seed: str | int = 0):
    n, size, seed = _int_option(n, "n"), _int_option(size, "size", 8), _int_option(seed, "seed", 0)
    names = [name for name, _ in photo_library()]  # fails early and clearly if nothing loads
    return GeneratedSource(spec, n, functools.partial(photo_crop, size=size, seed=seed), size, {"photos": names})


@DATASETS.register("builtin:shapes", help="procedural shapes on gradients (for tests)")
def builtin_shapes(spec: str = "builtin:shapes", n: str | int = 256, size: str | int = 64, seed: str | int = 0):
    n, size, seed = _int_option(n, "n"), _int_option(size, "size", 8), _int_option(seed, "seed", 0)
    return GeneratedSource(spec, n, functools.partial(shape_image, size=size, seed=seed), size)

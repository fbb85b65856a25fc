"""Image transforms: uint8 (H, W, 3) -> float tensor (3, S, S) in [-1, 1].

Eval = resize the shorter side to S (bicubic, antialiased, PIL) + center crop: the ImageNet
protocol. Train = the same resize + a random crop + horizontal flip, driven by an explicit
numpy Generator so that a resumed run sees the same augmentations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch


def resize_shorter(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    if min(h, w) == size:
        return img
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    return np.asarray(Image.fromarray(img).resize((new_w, new_h), Image.BICUBIC, reducing_gap=None))


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return img[top : top + size, left : left + size]


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [-1, 1]."""
    import torch  # here, not at the top: `tokkit data info` never needs torch

    t = torch.from_numpy(np.require(img, np.uint8, ["C", "W"])).permute(2, 0, 1).float()
    return t.div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8, rounding like PIL would."""
    import torch

    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


CROPS = ("center", "adm")


def adm_crop(img: np.ndarray, size: int) -> np.ndarray:
    """guided-diffusion's ImageNet preprocessing (used by LlamaGen and MAR; not VAR): halve with a BOX
    filter while the shorter side is >= 2 * size, then BICUBIC so the shorter side is size, then
    the centre crop. Reimplemented; tests/fixtures/adm_crop checks it byte for byte."""
    pil = Image.fromarray(img)
    while min(pil.size) >= 2 * size:
        pil = pil.resize((pil.size[0] // 2, pil.size[1] // 2), resample=Image.BOX)
    scale = size / min(pil.size)
    # round() as upstream (banker's rounding on .5): the fixture pins it
    pil = pil.resize((round(pil.size[0] * scale), round(pil.size[1] * scale)), resample=Image.BICUBIC)
    arr = np.asarray(pil)
    top, left = (arr.shape[0] - size) // 2, (arr.shape[1] - size) // 2
    return arr[top : top + size, left : left + size]


def eval_crop(img: np.ndarray, size: int, crop: str = "center") -> np.ndarray:
    if crop == "adm":
        return adm_crop(img, size)
    if crop != "center":
        raise ValueError(f"unknown crop {crop!r}; expected one of {CROPS}")
    return center_crop(resize_shorter(img, size), size)


def train_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    img = resize_shorter(img, size)
    h, w = img.shape[:2]
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    out = img[top : top + size, left : left + size]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return out


def eval_transform(img: np.ndarray, size: int, crop: str = "center") -> torch.Tensor:
    return to_tensor(eval_crop(img, size, crop))


def train_transform(img: np.ndarray, size: int, rng: np.random.Generator) -> torch.Tensor:
    return to_tensor(train_crop(img, size, rng))

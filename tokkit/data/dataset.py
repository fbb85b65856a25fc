"""Torch datasets and batch iterators over an ``ImageSource``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from tokkit.data.decode import UnreadableImage
from tokkit.data.sources import H5ImageSource, ImageSource
from tokkit.data.transforms import eval_transform, to_tensor, train_transform
from tokkit.errors import DataError


class ImageDataset(Dataset):
    """Items are (image (3, S, S) in [-1, 1], source index).

    ``train=True`` uses random crop + flip from a generator seeded by (seed, epoch, index): the
    augmentation of an item does not depend on worker count or on where a run was resumed.

    A file that fails to decode raises a one-line ``DataError``; with ``skip_unreadable=True``
    items are (image, index, reason) instead, with a zero image and the reason ("" when it read).
    """

    def __init__(
        self,
        source: ImageSource,
        image_size: int,
        train: bool = False,
        seed: int = 0,
        indices: Sequence[int] | None = None,
        skip_unreadable: bool = False,
    ):
        self.source = source
        self.skip_unreadable = skip_unreadable
        self.image_size = int(image_size)
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.indices = list(range(len(source))) if indices is None else list(indices)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, int] | tuple[torch.Tensor, int, str]:
        i = self.indices[k]
        try:
            img = self.source.read(i)
        except UnreadableImage as e:
            if not self.skip_unreadable:
                raise DataError(
                    f"'{self.source.name(i)}' cannot be decoded: {e}", hint="check the file, or scan with --verify"
                ) from e
            return torch.zeros(3, self.image_size, self.image_size), i, str(e) or "unreadable"
        x = self._transform(img, i)
        return (x, i, "") if self.skip_unreadable else (x, i)

    def _transform(self, img: np.ndarray, i: int) -> torch.Tensor:
        if self.train:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed % 2**32, self.epoch, i]))
            return train_transform(img, self.image_size, rng)
        if img.shape[0] == img.shape[1] == self.image_size:
            return to_tensor(img)
        return eval_transform(img, self.image_size, getattr(self.source, "crop", "center"))


def default_workers(n_items: int) -> int:
    import os

    if n_items < 64:
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def iter_batches(
    source: ImageSource,
    image_size: int,
    batch_size: int,
    start: int = 0,
    stop: int | None = None,
    num_workers: int | None = None,
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield (first row, images (B, 3, S, S), source indices (B,)) over rows [start, stop) in order,
    eval transform. Memory is bounded by one batch per worker, whatever the data size.

    Batches cover the fixed source ranges [start + j * batch_size, ...). An image that fails to
    decode is left out of its batch and recorded with ``source.note_skipped`` (so B may be smaller
    than batch_size, and a batch with no readable image is not yielded): the same images on every
    run, whatever the worker count."""
    stop = len(source) if stop is None else min(stop, len(source))
    if start >= stop:
        return
    ds = ImageDataset(source, image_size, indices=range(start, stop), skip_unreadable=True)
    workers = default_workers(stop - start) if num_workers is None else num_workers
    if isinstance(source, H5ImageSource) and workers == 0:
        # Store rows are already S x S: read whole slices, skip the per-item path.
        for b0 in range(start, stop, batch_size):
            b1 = min(b0 + batch_size, stop)
            arr = source.read_many(b0, b1)
            if arr.shape[1] == arr.shape[2] == image_size:
                x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
            else:
                x = torch.stack([eval_transform(a, image_size, source.crop) for a in arr])
            yield b0, x, torch.arange(b0, b1)
        return
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers, persistent_workers=False)
    row = start
    for images, idx, reasons in loader:
        n_batch = len(idx)
        bad = [j for j, r in enumerate(reasons) if r]
        if bad:
            for j in bad:
                source.note_skipped(int(idx[j]), reasons[j])
            keep = torch.tensor([not r for r in reasons])
            images, idx = images[keep], idx[keep]
        if len(idx):
            yield row, images, idx
        row += n_batch

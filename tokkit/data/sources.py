"""Image sources behind ``--data``: a folder, an HDF5 image store, or a builtin set.

A source is a fixed, ordered list of images: ``len(source)`` images, ``source.read(i)`` gives
(H, W, 3) uint8 RGB. A folder is scanned in one of two ways:
- ``verify=False`` (ImageNet scale): list the files and read headers only. Files whose header
  fails are left out at once (``source.unreadable``); a file whose pixels fail to decode later is
  skipped at read time by ``iter_batches`` and named in ``source.skipped``. Whether a file decodes
  depends only on its bytes, so the same files are skipped on every run and on resume.
- ``verify=True``: decode every file up front; then every listed image reads.
A source with no readable image is an error.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tokkit.data.decode import IMAGE_EXTENSIONS, UnreadableImage, header_size, read_image
from tokkit.errors import DataError
from tokkit.progress import task
from tokkit.registry import Registry


@dataclass
class Unreadable:
    path: str
    reason: str


class ImageSource(ABC):
    """An ordered set of readable images."""

    kind: str = ""
    crop: str = "center"  # eval preprocessing: "center" | "adm" (tokkit.data.transforms.CROPS)

    def __init__(self, spec: str):
        self.spec = spec
        self.unreadable: list[Unreadable] = []  # left out when the source was opened
        self.skipped: dict[int, Unreadable] = {}  # index -> why: listed, but failed to decode at read time
        self.verified = True  # every listed image is known to decode

    def note_skipped(self, i: int, reason: str) -> None:
        """Record that image ``i`` failed to decode at read time (``iter_batches`` calls this)."""
        self.skipped[int(i)] = Unreadable(self.name(i), reason)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def read(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""

    def name(self, i: int) -> str:
        return f"{self.spec}#{i}"

    def sizes(self) -> list[tuple[int, int]]:
        """(H, W) of every image."""
        return [tuple(self.read(i).shape[:2]) for i in range(len(self))]  # type: ignore[misc]

    def identity(self) -> dict[str, Any]:
        """What names this data for caches and provenance."""
        out: dict[str, Any] = {"spec": self.spec, "kind": self.kind, "num_images": len(self)}
        if self.crop != "center":  # only then: the cache keys of center-crop runs stay as they were
            out["crop"] = self.crop
        return out

    def fingerprint(self, n: int | None = None) -> str:
        """``data_fingerprint`` of the protocol: what fixes the first ``n`` images. Builtin sets are
        deterministic functions of their spec, so the spec is the fingerprint."""
        return f"spec:{self.spec}"

    def labels(self) -> tuple[np.ndarray, list[str]] | None:
        """Class labels, or None when the data has none: (``label`` (N,) int64 indexing ``classes``,
        ``classes`` sorted names). Folders use the ImageFolder convention (first-level subfolder)."""
        return None


class FolderSource(ImageSource):
    """Every image file under a folder, recursively, in sorted path order."""

    kind = "folder"

    def __init__(self, root: str | Path, spec: str | None = None, workers: int | None = None, verify: bool = True):
        super().__init__(spec or str(root))
        self.root = Path(root)
        candidates = sorted(
            (p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
            key=lambda p: p.parts,  # Path order, without Path.__lt__'s cost at 1M files
        )
        if not candidates:
            raise DataError(
                f"no image files under '{self.root}'", hint=f"expected extensions {', '.join(IMAGE_EXTENSIONS)}"
            )
        self._paths: list[Path] = []
        self._sizes: list[tuple[int, int]] = []
        self.verified = bool(verify)
        workers = workers or min(8, (os.cpu_count() or 1) * 2)

        def probe(group: list[Path]) -> list[tuple[Path, tuple[int, int] | None, str | None]]:
            out: list[tuple[Path, tuple[int, int] | None, str | None]] = []
            for p in group:
                try:
                    size = read_image(p).shape[:2] if verify else header_size(p)
                    out.append((p, (int(size[0]), int(size[1])), None))
                except UnreadableImage as e:
                    out.append((p, None, str(e)))
            return out

        # Threads: PIL decodes without the GIL, and header reads wait on the disk; files go in
        # groups (one future per group, not per file). The results keep the sorted path order
        # whatever the thread timing.
        group = 1 if verify else 64
        groups = [candidates[g : g + group] for g in range(0, len(candidates), group)]
        what = "Decoding" if verify else "Scanning headers of"
        with task(f"{what} {self.root}", total=len(candidates)) as t, ThreadPoolExecutor(workers) as pool:
            for b0 in range(0, len(groups), 4096):  # a bounded number of pending futures at 1M+ files
                for results in pool.map(probe, groups[b0 : b0 + 4096]):
                    for p, size, reason in results:
                        if size is None:
                            self.unreadable.append(Unreadable(str(p), reason or "unreadable"))
                        else:
                            self._paths.append(p)
                            self._sizes.append(size)
                    t.advance(len(results))
        if not self._paths:
            raise DataError(f"none of the {len(candidates)} image files under '{self.root}' could be read")

    def __len__(self) -> int:
        return len(self._paths)

    def read(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8; raises ``UnreadableImage`` when the file does not decode."""
        return read_image(self._paths[i])

    def fingerprint(self, n: int | None = None) -> str:
        """sha256 over the sorted relative paths and byte sizes of the first ``n`` readable files:
        cheap at 50,000 files (no content read), and changes when a file is added, removed or rewritten
        with another size."""
        h = hashlib.sha256()
        for p in self._paths[: len(self._paths) if n is None else n]:
            h.update(f"{p.relative_to(self.root).as_posix()}\0{p.stat().st_size}\n".encode())
        return "sha256:" + h.hexdigest()

    def name(self, i: int) -> str:
        return str(self._paths[i])

    def sizes(self) -> list[tuple[int, int]]:
        return list(self._sizes)

    def labels(self) -> tuple[np.ndarray, list[str]] | None:
        """First-level subfolder as the class (ImageFolder); None when any image lies at the root."""
        parts = [p.relative_to(self.root).parts for p in self._paths]
        if any(len(q) < 2 for q in parts):
            return None
        classes = sorted({q[0] for q in parts})
        index = {c: k for k, c in enumerate(classes)}
        return np.array([index[q[0]] for q in parts], dtype=np.int64), classes


class H5ImageSource(ImageSource):
    """An image store written by ``tokkit data pack``: ``images`` (N, S, S, 3) uint8."""

    kind = "hdf5"

    def __init__(self, path: str | Path, spec: str | None = None):
        from tokkit.io.h5store import open_store, store_attrs

        super().__init__(spec or str(path))
        self.path = Path(path)
        with open_store(self.path, "image") as f:
            self.attrs = store_attrs(f)
            self._n = int(f["images"].shape[0])
            self._shape = tuple(f["images"].shape[1:3])
        self.crop = str(self.attrs.get("crop", "center"))  # the crop the store was packed with
        self._file = None  # opened lazily per process (h5py handles do not survive fork)
        self._pid = None

    def _dataset(self):
        import h5py

        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file["images"]

    def __len__(self) -> int:
        return self._n

    def read(self, i: int) -> np.ndarray:
        return np.asarray(self._dataset()[i])

    def read_many(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self._dataset()[start:stop])

    def sizes(self) -> list[tuple[int, int]]:
        return [self._shape] * self._n  # type: ignore[list-item]

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "source_spec": self.attrs.get("source_spec")}

    def fingerprint(self, n: int | None = None) -> str:
        """sha256 of the whole store file (read once per process, ~1 s/GB)."""
        if getattr(self, "_sha256", None) is None:
            from tokkit.io.files import sha256_file

            self._sha256 = sha256_file(self.path)
        return "sha256:" + self._sha256

    def labels(self) -> tuple[np.ndarray, list[str]] | None:
        """The ``labels`` dataset and ``classes`` attr that ``tokkit data pack`` stores for a
        folder with class subfolders; None when the store has none."""
        classes = self.attrs.get("classes")
        f = self._dataset().file
        if "labels" not in f or not isinstance(classes, list):
            return None
        return np.asarray(f["labels"][: self._n], dtype=np.int64), [str(c) for c in classes]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"] = None
        return state


class GeneratedSource(ImageSource):
    """Images made by a deterministic function of their index (builtin sets)."""

    kind = "builtin"

    def __init__(
        self, spec: str, n: int, make: Callable[[int], np.ndarray], size: int, about: dict[str, Any] | None = None
    ):
        super().__init__(spec)
        self._n = n
        self._make = make
        self.size = size
        self.about = about or {}  # what else fixes the images (e.g. which photos loaded)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), **self.about}

    def __len__(self) -> int:
        return self._n

    def read(self, i: int) -> np.ndarray:
        if not 0 <= i < self._n:
            raise IndexError(i)
        return self._make(i)

    def sizes(self) -> list[tuple[int, int]]:
        return [(self.size, self.size)] * self._n


def parse_options(text: str | None) -> dict[str, str]:
    """``n=64,size=128`` -> {"n": "64", "size": "128"}."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise DataError(f"bad data option '{part}': expected key=value")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


# builtin.py registers the builtin sets; the registry imports it (by name) on the first lookup
DATASETS: Registry[Callable[..., ImageSource]] = Registry("dataset", modules=("tokkit.data.builtin",))


def open_source(spec: str, verify: bool = True, crop: str | None = None) -> ImageSource:
    """Resolve ``--data``: an existing folder or ``.h5`` file, or ``builtin:NAME[:key=value,...]``.
    ``verify=False`` scans a folder by headers only (see the module doc). ``crop`` (center | adm)
    sets the eval preprocessing the source's images get (None: the source's own, center)."""
    source = _open_source(spec, verify)
    if crop is not None:
        set_crop(source, crop)
    return source


def set_crop(source: ImageSource, crop: str) -> None:
    """Choose the eval crop of ``source``; a packed store keeps the crop it was packed with."""
    from tokkit.data.transforms import CROPS
    from tokkit.errors import UsageError

    if crop not in CROPS:
        raise UsageError(f"unknown --crop {crop!r}; expected one of {', '.join(CROPS)}")
    if isinstance(source, H5ImageSource) and crop != source.crop and source.attrs.get("image_size") is not None:
        # its rows are already S x S crops: another crop cannot be applied after the fact
        raise UsageError(f"'{source.spec}' was packed with --crop {source.crop}; repack it with --crop {crop}")
    source.crop = crop


def _open_source(spec: str, verify: bool) -> ImageSource:
    path = Path(spec).expanduser()
    if path.is_dir():
        return FolderSource(path, spec=spec, verify=verify)
    if path.is_file():
        if path.suffix.lower() in (".h5", ".hdf5"):
            return H5ImageSource(path, spec=spec)
        raise DataError(
            f"'{spec}' is a file but not an HDF5 image store (.h5)", hint="give a folder, a .h5 store or builtin:photos"
        )
    if spec.startswith("builtin:"):
        parts = spec.split(":", 2)
        name = ":".join(parts[:2])
        options = parse_options(parts[2] if len(parts) == 3 else None)
        factory = DATASETS.get(name)  # unknown names raise with a did-you-mean suggestion
        try:
            return factory(spec=spec, **options)
        except TypeError as e:
            raise DataError(f"bad option in '{spec}': {e}", hint="options are n, size and seed") from e
    raise DataError(f"no such data '{spec}'", hint="give an image folder, an HDF5 image store or builtin:photos")

"""--crop adm equals guided-diffusion's center_crop_arr byte for byte (oracle fixture made by
tests/fixtures/adm_crop/make_fixtures.py from the upstream function itself)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tokkit.data.transforms import adm_crop, eval_crop

FIX = Path(__file__).parent.parent / "fixtures" / "adm_crop"


def _cases() -> dict[str, np.ndarray]:
    spec = importlib.util.spec_from_file_location("adm_make_fixtures", FIX / "make_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.cases()


def test_adm_crop_matches_guided_diffusion_digests() -> None:
    pytest.importorskip("skimage")
    meta = json.loads((FIX / "digests.json").read_text())
    cases = _cases()
    assert len(meta["digests"]) == 2 * len(cases)
    for key, want in meta["digests"].items():
        name, t = key.rsplit("@", 1)
        out = np.ascontiguousarray(eval_crop(cases[name], int(t), "adm"))
        assert out.shape == (int(t), int(t), 3) and out.dtype == np.uint8
        assert hashlib.sha256(out.tobytes()).hexdigest() == want, key


def test_adm_crop_small_exact_and_differs_from_center() -> None:
    pytest.importorskip("skimage")
    cases = _cases()
    with np.load(FIX / "small.npz") as z:
        assert len(z.files) >= 3
        for key in z.files:
            name, t = key.rsplit("@", 1)
            np.testing.assert_array_equal(adm_crop(cases[name], int(t)), z[key])
    # the two crops are different protocols: not the same pixels on a photo that needs a BOX step
    img = cases["astronaut_512x512"]
    assert not np.array_equal(eval_crop(img, 64, "adm"), eval_crop(img, 64, "center"))


def test_unknown_crop_refused() -> None:
    with pytest.raises(ValueError, match="unknown crop"):
        eval_crop(np.zeros((8, 8, 3), np.uint8), 4, "nope")


def test_pack_with_adm_crop_stores_adm_pixels_and_keeps_the_crop(tmp_path) -> None:
    import h5py
    from PIL import Image

    from tokkit.data.pack import pack_images
    from tokkit.data.sources import open_source
    from tokkit.errors import UsageError

    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    root.mkdir()
    imgs = [rng.integers(0, 256, (40, 61, 3), dtype=np.uint8) for _ in range(2)]
    for i, a in enumerate(imgs):
        Image.fromarray(a).save(root / f"{i}.png")
    pack_images(str(root), tmp_path / "s.h5", 16, crop="adm")
    with h5py.File(tmp_path / "s.h5", "r") as f:
        for i, a in enumerate(imgs):
            np.testing.assert_array_equal(f["images"][i], adm_crop(a, 16))
    store = open_source(str(tmp_path / "s.h5"))
    assert store.crop == "adm" and store.fingerprint().startswith("sha256:")
    with pytest.raises(UsageError, match="repack"):
        open_source(str(tmp_path / "s.h5"), crop="center")

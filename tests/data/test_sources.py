import json

import numpy as np
import pytest

from tests.conftest import BAD_IN_MESSY, GOOD_IN_MESSY
from tokkit.data.sources import open_source
from tokkit.errors import DataError


def test_folder_is_recursive_and_skips_bad_files(messy_folder):
    src = open_source(str(messy_folder))
    assert src.kind == "folder" and len(src) == GOOD_IN_MESSY
    assert sorted(u.path.rsplit("/", 1)[-1] for u in src.unreadable) == sorted(BAD_IN_MESSY)
    assert any(src.name(i).endswith("deeper/c.webp") for i in range(len(src)))
    for i in range(len(src)):
        img = src.read(i)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_data_info_json(cli, messy_folder):
    r = cli("data", "info", str(messy_folder), "--json", "--verify")
    assert r.exit_code == 0, r.stderr
    info = json.loads(r.stdout)
    assert set(info) == {"spec", "kind", "num_images", "num_unreadable", "unreadable", "min_size", "max_size",
                         "verified", "num_skipped", "skipped", "num_classes"}  # fmt: skip
    assert info["num_images"] == GOOD_IN_MESSY and info["num_unreadable"] == len(BAD_IN_MESSY)
    assert sorted(p.rsplit("/", 1)[-1] for p in info["unreadable"]) == sorted(BAD_IN_MESSY)
    assert info["min_size"] == [16, 18] and info["max_size"] == [64, 48]
    assert info["verified"] and info["skipped"] == info["unreadable"]
    # headers only (the default): the truncated JPEG has a good header and is found when read
    info = json.loads(cli("data", "info", str(messy_folder), "--json").stdout)
    assert not info["verified"] and info["num_images"] == GOOD_IN_MESSY + 1
    assert sorted(p.rsplit("/", 1)[-1] for p in info["skipped"]) == ["empty.png", "text.png"]
    assert info["min_size"] == [16, 18] and info["max_size"] == [64, 48]


def test_unreadable_list_is_capped_at_20(cli, tmp_path):
    from tests.conftest import write_rgb

    write_rgb(tmp_path / "ok.png", 8, 8)
    for i in range(25):
        (tmp_path / f"bad{i:02d}.jpg").write_bytes(b"garbage")
    info = json.loads(cli("data", "info", str(tmp_path), "--json").stdout)
    assert info["num_unreadable"] == 25 and len(info["unreadable"]) == 20


def test_folder_with_nothing_readable_is_exit_1(cli, tmp_path):
    (tmp_path / "x.png").write_text("nope")
    r = cli("data", "info", str(tmp_path))
    assert r.exit_code == 1 and "could be read" in r.stderr


def test_builtin_photos_are_deterministic_real_photos():
    a, b = open_source("builtin:photos:n=6,size=48"), open_source("builtin:photos:n=6,size=48")
    assert len(a) == 6
    for i in range(6):
        np.testing.assert_array_equal(a.read(i), b.read(i))
        assert a.read(i).shape == (48, 48, 3)
    # real photographs have texture: far from constant
    assert np.std(a.read(0).astype(float)) > 10
    assert not np.array_equal(a.read(0), open_source("builtin:photos:n=6,size=48,seed=1").read(0))


def test_builtin_shapes_options():
    src = open_source("builtin:shapes:n=3,size=20")
    assert len(src) == 3 and src.read(2).shape == (20, 20, 3)
    with pytest.raises(DataError, match="bad option"):
        open_source("builtin:shapes:colour=red")
    with pytest.raises(DataError, match="must be >= 1"):
        open_source("builtin:shapes:n=0")


def test_plain_file_that_is_not_a_store(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="not an HDF5 image store"):
        open_source(str(tmp_path / "x.png"))


def test_transforms_shapes_and_range():
    import torch

    from tokkit.data.dataset import ImageDataset

    src = open_source("builtin:photos:n=2,size=40")
    x, i = ImageDataset(src, 32)[1]
    assert x.shape == (3, 32, 32) and i == 1 and x.min() >= -1 and x.max() <= 1
    ds = ImageDataset(src, 32, train=True, seed=3)
    torch.testing.assert_close(ds[0][0], ds[0][0])  # same seed/epoch/index, same augmentation
    ds.set_epoch(1)
    assert ds[0][0].shape == (3, 32, 32)


def test_builtin_photos_identity_names_the_photos():
    ident = open_source("builtin:photos:n=3,size=16").identity()
    assert ident["num_images"] == 3 and "astronaut" in ident["photos"] and "chelsea" in ident["photos"]


def test_folder_labels_follow_imagefolder(tmp_path):
    from PIL import Image

    for cls, names in {"dog": ["b.png", "a.png"], "cat": ["z.png"]}.items():
        (tmp_path / cls).mkdir()
        for n in names:
            Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / cls / n)
    src = open_source(str(tmp_path))
    label, classes = src.labels()
    assert classes == ["cat", "dog"]
    assert [src.name(i).split("/")[-2] for i in range(len(src))] == [classes[k] for k in label]
    Image.new("RGB", (8, 8)).save(tmp_path / "root.png")  # an image outside any class folder: no labels
    assert open_source(str(tmp_path)).labels() is None
    assert open_source("builtin:shapes:n=4").labels() is None

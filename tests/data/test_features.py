"""Bring your own features: np.save files, .npy shard folders and HDF5 written by hand cluster,
tokenize and inspect; bad files are one clear line."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tokkit.data.features import open_features, parse_grid
from tokkit.errors import DataError, UsageError

DATA = "builtin:shapes:n=12,size=8"


def clustered(n_rows: int, t: int, d: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n_rows, t, d) float32 vectors around k well-separated centres, and the centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (k, d)).astype(np.float32)
    label = rng.integers(0, k, (n_rows, t))
    return (centres[label] + rng.normal(0, 0.1, (n_rows, t, d))).astype(np.float32), centres


def nearest(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Brute-force nearest centroid in float64 (the reference)."""
    x64, c64 = x.reshape(-1, x.shape[-1]).astype(np.float64), c.astype(np.float64)
    return ((x64[:, None, :] - c64[None]) ** 2).sum(-1).argmin(1)


def centroids(ckpt):
    from safetensors.numpy import load_file

    return load_file(str(ckpt / "model.safetensors"))["centroids"]


def test_reader_layouts(tmp_path):
    x, _ = clustered(10, 4, 3, 2)
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "flat.npy", x[:, 0])
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, (a, b) in enumerate([(0, 3), (3, 4), (4, 10)]):  # names sort as numbers: 2 < 10 < 11
        np.save(shards / f"feat_{[2, 10, 11][i]}.npy", x[a:b])
    with h5py.File(tmp_path / "hand.h5", "w") as f:
        f["features"] = x
    for path in ("a.npy", "shards", "hand.h5"):
        with open_features(tmp_path / path) as src:
            assert src.shape == (10, 4, 3) and src.grid == (2, 2) and src.external
            np.testing.assert_array_equal(src.read(0, 10), x)
            np.testing.assert_array_equal(src.read(2, 7), x[2:7])  # across shard boundaries
            np.testing.assert_array_equal(src.read_rows(np.array([1, 3, 9])), x[[1, 3, 9]])
            np.testing.assert_array_equal(src.image_index(3, 6), [3, 4, 5])
    with open_features(tmp_path / "a.npy") as src:
        assert isinstance(src._parts[0], np.memmap)  # memory-mapped, never loaded whole
    with open_features(tmp_path / "flat.npy") as src:
        assert src.shape == (10, 1, 3) and src.grid == (1, 1)
    with open_features(tmp_path / "a.npy", grid="1x4") as src:
        assert src.grid == (1, 4)
    assert parse_grid("16x16") == (16, 16)
    with pytest.raises(UsageError, match="has 9 positions"):
        open_features(tmp_path / "a.npy", grid="3x3")
    with pytest.raises(UsageError, match="HxW"):
        parse_grid("16")


def test_bad_feature_files_are_one_line(tmp_path):
    shards = tmp_path / "mixed"
    shards.mkdir()
    np.save(shards / "0.npy", np.zeros((2, 4, 8), np.float32))
    np.save(shards / "1.npy", np.zeros((2, 4, 16), np.float32))
    with pytest.raises(DataError, match=r"shards differ: '0.npy' is \(2, 4, 8\), '1.npy' is \(2, 4, 16\)"):
        open_features(shards)
    np.save(tmp_path / "ints.npy", np.zeros((2, 3), np.int64))
    with pytest.raises(DataError, match="floating-point"):
        open_features(tmp_path / "ints.npy")
    np.save(tmp_path / "4d.npy", np.zeros((2, 3, 4, 5), np.float32))
    with pytest.raises(DataError, match="expected"):
        open_features(tmp_path / "4d.npy")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="without .npy shards"):
        open_features(tmp_path / "empty")
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match="not a readable .npy"):
        open_features(tmp_path / "bad.npy")


def test_np_save_and_h5py_features_cluster_and_tokenize(cli, tmp_path):
    k = 4
    x, centres = clustered(64, 6, 5, k, seed=1)  # T = 6: not a square, the grid must be given
    np.save(tmp_path / "x.npy", x)
    with h5py.File(tmp_path / "hand.h5", "w") as f:  # written by hand: no tokkit attrs at all
        f["features"] = x.astype(np.float16)
    for name in ("x.npy", "hand.h5"):
        km = tmp_path / f"km-{name}"
        r = cli("fit-kmeans", "--features", tmp_path / name, "--k", k, "--out", km, "--json", "--init", "kmeans++")
        assert r.exit_code == 0, r.stderr
        res = json.loads(r.stdout)
        assert res["num_points"] == 64 * 6 and res["dim"] == 5
        cfg = json.loads((km / "config.json").read_text())
        assert cfg["args"]["encoder"] is None  # recorded: no image encoder
        assert cfg["provenance"]["feature_source"]["shape"] == [64, 6, 5]
        c = centroids(km)
        # the k-means found the true centres (each centre has a centroid within the noise)
        assert np.sqrt(((c[:, None] - centres[None]) ** 2).sum(-1)).min(0).max() < 0.5
        # tokens: a square T is needed for (N, h, w) maps; --grid gives it
        r = cli("tokenize", "--tokenizer", km, "--features", tmp_path / name, "--out", tmp_path / "t.h5")
        assert r.exit_code == 1 and "give --grid HxW" in r.stderr and r.stderr.count("\n") == 1
        out = tmp_path / f"t-{name}.h5"
        r = cli("tokenize", "--tokenizer", km, "--features", tmp_path / name, "--grid", "2x3", "--out", out, "--json")
        assert r.exit_code == 0, r.stderr
        with h5py.File(out, "r") as f:
            tokens = f["tokens"][:]
            assert tokens.shape == (64, 2, 3) and f.attrs["complete"]
            np.testing.assert_array_equal(f["image_index"][:], np.arange(64))
        ref = x.astype(np.float16).astype(np.float32) if name.endswith(".h5") else x
        np.testing.assert_array_equal(tokens.reshape(-1), nearest(ref, c))
        r = cli("inspect", "features", tmp_path / name, "--grid", "2x3", "--json")
        assert r.exit_code == 0, r.stderr
        info = json.loads(r.stdout)
        assert info["shape"] == [64, 6, 5] and info["grid"] == [2, 3] and info["encoder"] is None


def test_nan_rows_and_grid_errors(cli, tmp_path):
    x, _ = clustered(16, 4, 3, 2)
    x[5, 2, 1] = np.nan
    np.save(tmp_path / "nan.npy", x)
    r = cli("fit-kmeans", "--features", tmp_path / "nan.npy", "--k", "2", "--out", tmp_path / "km")
    assert r.exit_code == 1 and "NaN or inf" in r.stderr and "Traceback" not in r.stderr
    good = np.nan_to_num(x)
    np.save(tmp_path / "good.npy", good)
    assert cli("fit-kmeans", "--features", tmp_path / "good.npy", "--k", "2", "--out", tmp_path / "km").exit_code == 0
    r = cli("tokenize", "--tokenizer", tmp_path / "km", "--features", tmp_path / "nan.npy", "--out", tmp_path / "t.h5")
    assert r.exit_code == 1 and "NaN or inf features (first in row 5)" in r.stderr
    r = cli("fit-kmeans", "--features", tmp_path / "good.npy", "--k", "2", "--grid", "3x3", "--out", tmp_path / "k2")
    assert r.exit_code == 2 and "has 9 positions" in r.stderr
    r = cli("fit-kmeans", "--features", tmp_path / "good.npy", "--k", "2", "--layer", "4", "--out", tmp_path / "k3")
    assert r.exit_code == 2 and "need --encoder" in r.stderr


def test_codebook_without_encoder_refuses_images_in_one_line(cli, tmp_path):
    from tokkit.encoders.extract import extract_features

    extract_features("pixels", DATA, tmp_path / "f.h5", layer=4, image_size=8, batch_size=4, dtype="float32")
    with h5py.File(tmp_path / "f.h5", "r") as f:
        np.save(tmp_path / "f.npy", f["features"][:])  # the same features, as another tool would save them
    km = tmp_path / "km"
    assert cli("fit-kmeans", "--features", tmp_path / "f.npy", "--k", "3", "--out", km).exit_code == 0
    for args in (
        ("tokenize", "--tokenizer", km, "--data", DATA, "--out", tmp_path / "t.h5"),
        ("inspect", "codebook", km, "--data", DATA),
        ("eval", "recon", "--tokenizer", km, "--data", DATA),
    ):
        r = cli(*args)
        assert r.exit_code == 1, (args, r.stderr)
        assert "has no image encoder" in r.stderr and "--encoder" in r.stderr and r.stderr.count("\n") == 1, args
    # --encoder names the encoder the features came from: then images work, with the same tokens
    named = tmp_path / "named"
    r = cli("fit-kmeans", "--features", tmp_path / "f.npy", "--k", "3", "--encoder", "pixels", "--layer", "4",
            "--image-size", "8", "--out", named)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert json.loads((named / "config.json").read_text())["args"]["encoder"] == "pixels"
    assert cli("tokenize", "--tokenizer", named, "--data", DATA, "--out", tmp_path / "a.h5").exit_code == 0
    assert (
        cli("tokenize", "--tokenizer", named, "--features", tmp_path / "f.npy", "--out", tmp_path / "b.h5").exit_code
        == 0
    )
    with h5py.File(tmp_path / "a.h5", "r") as a, h5py.File(tmp_path / "b.h5", "r") as b:
        np.testing.assert_array_equal(a["tokens"][:], b["tokens"][:])
    r = cli("fit-kmeans", "--features", tmp_path / "f.npy", "--k", "3", "--encoder", "pixels", "--layer", "2",
            "--image-size", "8", "--out", tmp_path / "wrong")  # fmt: skip
    assert r.exit_code == 1 and "12-d features" in r.stderr
    # a tokkit store records its encoder: naming another is refused
    r = cli("fit-kmeans", "--features", tmp_path / "f.h5", "--k", "3", "--encoder", "pixels", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "records its own" in r.stderr

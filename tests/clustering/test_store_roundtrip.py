"""A codebook fitted on a feature file tokenizes that file: h5py files with tokkit's documented
attributes (all, none, some), .npy files and shard folders; other features are refused by name."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tokkit.clustering.assign import NumpyAssigner
from tokkit.clustering.fit import fit_kmeans
from tokkit.clustering.tokenize import tokenize
from tokkit.errors import DataError

ALL_ATTRS = {"encoder": "external", "layer": -1, "image_size": 0, "grid": [1, 1], "normalisation": "none"}
PARTIAL_ATTRS = {"layer": -1, "normalisation": "none"}


def _points(n: int = 120, d: int = 6) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 1, d)).astype(np.float32)


def _write_h5(path, x: np.ndarray, attrs: dict) -> None:
    with h5py.File(path, "w") as f:  # written by hand, as another tool would
        f["features"] = x
        f.attrs.update(attrs)


def _roundtrip(tmp_path, src) -> np.ndarray:
    km = tmp_path / "km"
    fit_kmeans(8, km, features=str(src), seed=0)
    out = tmp_path / "t.h5"
    tokenize(km, out, features=str(src), device="cpu")
    with h5py.File(out, "r") as f:
        return f["tokens"][:]


def _nearest(tmp_path, x: np.ndarray) -> np.ndarray:
    from safetensors.numpy import load_file

    c = load_file(str(tmp_path / "km" / "model.safetensors"))["centroids"]
    return NumpyAssigner(c)(x.reshape(-1, x.shape[-1]))[0]


@pytest.mark.parametrize("attrs", [ALL_ATTRS, {}, PARTIAL_ATTRS], ids=["all-attrs", "no-attrs", "partial-attrs"])
def test_h5_written_by_hand_round_trips(tmp_path, attrs):
    x = _points()
    _write_h5(tmp_path / "f.h5", x, attrs)
    tokens = _roundtrip(tmp_path, tmp_path / "f.h5")
    assert tokens.reshape(-1).tolist() == _nearest(tmp_path, x).tolist()
    cfg = json.loads((tmp_path / "km" / "config.json").read_text())["args"]
    assert cfg["fitted_on"] == {k: v for k, v in attrs.items() if k != "grid"}  # what it was fit on is recorded


def test_npy_and_shards_round_trip(tmp_path):
    x = _points()
    np.save(tmp_path / "f.npy", x)
    assert _roundtrip(tmp_path, tmp_path / "f.npy").reshape(-1).tolist() == _nearest(tmp_path, x).tolist()
    shards = tmp_path / "shards"
    shards.mkdir()
    np.save(shards / "part0.npy", x[:50])
    np.save(shards / "part1.npy", x[50:])
    sub = tmp_path / "s"
    sub.mkdir()
    assert _roundtrip(sub, shards).reshape(-1).tolist() == _nearest(sub, x).tolist()


def test_other_features_are_refused_by_name(tmp_path):
    x = _points()
    _write_h5(tmp_path / "f.h5", x, ALL_ATTRS)
    fit_kmeans(8, tmp_path / "km", features=str(tmp_path / "f.h5"), seed=0)
    _write_h5(tmp_path / "g.h5", x, {**ALL_ATTRS, "layer": 3})
    with pytest.raises(DataError, match=r"layer=3.*fit on features with layer=-1"):
        tokenize(tmp_path / "km", tmp_path / "t.h5", features=str(tmp_path / "g.h5"), device="cpu")
    _write_h5(tmp_path / "h.h5", x, {"layer": -1})  # records less: what it records agrees
    tokenize(tmp_path / "km", tmp_path / "t2.h5", features=str(tmp_path / "h.h5"), device="cpu")


def test_codebook_without_fit_record_does_not_compare_missing_encoder(tmp_path):
    """A checkpoint written before ``fitted_on`` existed, fit on features from elsewhere (no
    encoder): it must not compare the encoder settings it does not have (layer 'None' vs -1)."""
    x = _points()
    _write_h5(tmp_path / "f.h5", x, ALL_ATTRS)
    km = tmp_path / "km"
    fit_kmeans(8, km, features=str(tmp_path / "f.h5"), seed=0)
    cfg_path = km / "config.json"
    cfg = json.loads(cfg_path.read_text())
    del cfg["args"]["fitted_on"]
    cfg_path.write_text(json.dumps(cfg))
    tokenize(km, tmp_path / "t.h5", features=str(tmp_path / "f.h5"), device="cpu")

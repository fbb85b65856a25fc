"""extract -> fit-kmeans -> tokenize through the CLI: JSON keys, stores, resume, bad inputs."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from tokkit.io.h5store import StoreWriter

DATA = "builtin:shapes:n=24,size=32"
FIT_KEYS = [
    "k",
    "dim",
    "num_points",
    "niter",
    "iterations",
    "tol",
    "objective",
    "objective_history",
    "history_seconds",
    "seconds",
    "backend",
    "init",
    "empty_clusters_fixed",
    "num_skipped",
    "skipped",
]


def _contents(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][:] for name in f}, {k: f.attrs[k] for k in f.attrs}


@pytest.fixture(scope="module")
def feats(tmp_path_factory):
    from tokkit.encoders.extract import extract_features

    path = tmp_path_factory.mktemp("f") / "feats.h5"
    extract_features("pixels", DATA, path, layer=4, image_size=32, batch_size=5, dtype="float32")
    return path


def test_extract_store_format(cli, tmp_path, feats):
    data, attrs = _contents(feats)
    assert data["features"].shape == (24, 64, 48) and data["features"].dtype == np.float32
    np.testing.assert_array_equal(data["image_index"], np.arange(24))
    assert list(attrs["grid"]) == [8, 8] and attrs["encoder"] == "pixels" and attrs["layer"] == "4"
    assert attrs["complete"] and attrs["committed"] == 24 and attrs["source_spec"] == DATA
    # the features are the raw patches of the eval-transformed images
    from tokkit.data import open_source
    from tokkit.data.transforms import eval_transform

    img = eval_transform(open_source(DATA).read(3), 32)
    np.testing.assert_array_equal(data["features"][3, 9], img[:, 4:8, 4:8].reshape(-1).numpy())
    r = cli("extract", "--encoder", "pixels", "--layer", "4", "--data", DATA, "--out", tmp_path / "h.h5", "--json")
    # default image size = the encoder's (16 patches a side)
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["dtype"] == "float16" and out["grid"] == [16, 16] and out["num_images"] == 24
    r = cli("extract", "--encoder", "pixels", "--data", DATA, "--out", tmp_path / "h.h5")
    assert r.exit_code == 2 and "--resume" in r.stderr


def _interrupt_after(monkeypatch, calls: int):
    """Kill after ``calls`` committed writes, whichever writer path runs: the one-process image path
    (``StoreWriter.write``) or the positioned rows of feature chunks (``sharded.write_rows``)."""
    import tokkit.io.sharded as sharded

    state = {"n": 0}

    def counted(real):
        def write(*args, **kwargs):
            if state["n"] == calls:
                raise KeyboardInterrupt("killed")
            state["n"] += 1
            return real(*args, **kwargs)

        return write

    monkeypatch.setattr(StoreWriter, "write", counted(StoreWriter.write))
    monkeypatch.setattr(sharded, "write_rows", counted(sharded.write_rows))


def test_extract_resume_is_byte_identical(tmp_path, monkeypatch):
    from tokkit.encoders.extract import extract_features

    kw = dict(layer=-1, batch_size=4, dtype="float16", image_size=64)
    extract_features("effnet-lite0", "builtin:photos:n=10,size=64", tmp_path / "full.h5", **kw)
    with monkeypatch.context() as m:
        _interrupt_after(m, 2)
        with pytest.raises(KeyboardInterrupt):
            extract_features("effnet-lite0", "builtin:photos:n=10,size=64", tmp_path / "part.h5", **kw)
    with h5py.File(tmp_path / "part.h5", "r") as f:
        assert f.attrs["committed"] == 8 and not f.attrs["complete"]
    r = extract_features("effnet-lite0", "builtin:photos:n=10,size=64", tmp_path / "part.h5", resume=True, **kw)
    assert r.resumed_from == 8 and r.grid == [2, 2] and r.dim == 320
    a, b = _contents(tmp_path / "full.h5")[0], _contents(tmp_path / "part.h5")[0]
    for name in a:
        assert a[name].tobytes() == b[name].tobytes()


def test_fit_kmeans_json_and_checkpoint_tokenizes(cli, tmp_path, feats):
    from tokkit import load_tokenizer

    r = cli("fit-kmeans", "--features", feats, "--k", "16", "--niter", "5", "--out", tmp_path / "km", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert list(out) == FIT_KEYS
    assert out["k"] == 16 and out["dim"] == 48 and out["num_points"] == 24 * 64 and out["niter"] == 5
    assert out["backend"] == "faiss" and out["init"] == "kmeans++" and len(out["objective_history"]) == 6
    assert "1536 of 1536" in r.stderr  # the number of points used is always said
    tok = load_tokenizer(tmp_path / "km")
    assert tok.architecture == "kmeans" and tok.codebook.shape == (16, 48) and not tok.can_decode
    # tokenize from the store and from the images: same tokens; the checkpoint encodes images
    r = cli("tokenize", "--tokenizer", tmp_path / "km", "--features", feats, "--out", tmp_path / "a.h5", "--json")
    assert r.exit_code == 0, r.stderr
    r2 = cli("tokenize", "--tokenizer", tmp_path / "km", "--data", DATA, "--out", tmp_path / "b.h5", "--json")
    assert r2.exit_code == 0, r2.stderr
    a, attrs = _contents(tmp_path / "a.h5")
    b, _ = _contents(tmp_path / "b.h5")
    assert a["tokens"].shape == (24, 8, 8) and list(attrs["grid"]) == [8, 8] and attrs["codebook_size"] == 16
    np.testing.assert_array_equal(a["tokens"], b["tokens"])
    from tokkit.data import iter_batches, open_source

    _, images, _ = next(iter_batches(open_source(DATA), 32, 6))
    with torch.no_grad():
        tb = tok.encode(images)
    np.testing.assert_array_equal(tb.indices.numpy(), a["tokens"][:6])
    torch.testing.assert_close(tb.quantized, tok.codebook[tb.indices].permute(0, 3, 1, 2))
    assert json.loads(r.stdout)["utilization"] > 0.5
    with pytest.raises(Exception, match="no pixel decoder"):
        tok.decode(tb)


def test_fit_kmeans_from_encoder_torch_backend_and_sample(cli, tmp_path):
    r = cli(
        "fit-kmeans", "--encoder", "pixels", "--layer", "8", "--image-size", "32", "--data", DATA, "--k", "8",
        "--sample", "50", "--backend", "torch", "--init", "random", "--niter", "3", "--out", tmp_path / "km", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["num_points"] == 50 and out["backend"] == "torch" and out["init"] == "random" and out["dim"] == 192
    info = json.loads((tmp_path / "km" / "kmeans.json").read_text())
    assert info["sample"] == 50 and info["points_available"] == 24 * 16


def test_tokenize_resume_is_identical(tmp_path, feats, monkeypatch):
    from tokkit.clustering.fit import fit_kmeans
    from tokkit.clustering.tokenize import tokenize

    fit_kmeans(12, tmp_path / "km", features=feats, niter=2)
    full = tokenize(tmp_path / "km", tmp_path / "full.h5", features=feats, chunk_rows=5)
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        with pytest.raises(KeyboardInterrupt):
            tokenize(tmp_path / "km", tmp_path / "part.h5", features=feats, chunk_rows=5)
    r = tokenize(tmp_path / "km", tmp_path / "part.h5", features=feats, chunk_rows=5, resume=True)
    assert r.resumed_from == 15
    # usage is reported over the whole store, not just the resumed rows
    assert (r.utilization, r.perplexity) == (full.utilization, full.perplexity)
    a, b = _contents(tmp_path / "full.h5")[0], _contents(tmp_path / "part.h5")[0]
    assert all(a[n].tobytes() == b[n].tobytes() for n in a)


def test_bad_inputs_are_one_line(cli, tmp_path, feats):
    def err(*args, code=1):
        r = cli(*args)
        assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
        assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error:")
        return r.stderr

    km = tmp_path / "km"
    assert "larger than the number of points" in err("fit-kmeans", "--features", feats, "--k", "5000", "--out", km)
    assert not km.exists()
    # NaN features
    bad = tmp_path / "nan.h5"
    with StoreWriter(
        bad, "feature", 4, {"features": ((8, 6), np.float32)}, {"encoder": "pixels", "layer": "1", "image_size": 8}
    ) as w:
        x = np.ones((4, 8, 6), np.float32)
        x[2, 3, 1] = np.nan
        w.write(0, {"features": x})
        w.finish()
    assert "NaN or inf" in err("fit-kmeans", "--features", bad, "--k", "2", "--out", km)
    # incomplete store
    inc = tmp_path / "inc.h5"
    with StoreWriter(inc, "feature", 4, {"features": ((8, 6), np.float32)}, {"encoder": "pixels"}) as w:
        w.write(0, {"features": np.ones((2, 8, 6), np.float32)})
    assert "incomplete (2/4 rows" in err("fit-kmeans", "--features", inc, "--k", "2", "--out", km)
    # truncated file
    trunc = tmp_path / "trunc.h5"
    raw = feats.read_bytes()
    trunc.write_bytes(raw[: len(raw) // 2])
    assert "not a readable HDF5" in err("fit-kmeans", "--features", trunc, "--k", "2", "--out", km)
    assert not km.exists()
    # a codebook of another dimension than the features
    from tokkit.clustering.fit import fit_kmeans

    fit_kmeans(4, km, encoder="pixels", layer=2, image_size=32, data=DATA, niter=1)
    assert "48-d features but the codebook is 12-d" in err(
        "tokenize", "--tokenizer", km, "--features", feats, "--out", tmp_path / "t.h5"
    )
    assert not (tmp_path / "t.h5").exists() or not h5py.File(tmp_path / "t.h5", "r").attrs["complete"]
    # unknown encoder, wrong option mixes
    assert "unknown encoder" in err("fit-kmeans", "--encoder", "dinov", "--data", DATA, "--k", "2", "--out", km, code=2)
    assert "either --features" in err("fit-kmeans", "--k", "2", "--out", km, code=2)
    assert "either --features" in err("fit-kmeans", "--encoder", "pixels", "--k", "2", "--out", km, code=2)
    assert "--data needs --encoder" in err("fit-kmeans", "--data", DATA, "--k", "2", "--out", km, code=2)

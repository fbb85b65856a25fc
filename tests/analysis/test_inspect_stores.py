"""``tokkit inspect features`` and ``tokkit inspect tokens`` on stores written here, and bad stores."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from scipy.stats import entropy

from tests.analysis.test_inspect_codebook import assert_html, assert_png
from tokkit.io.h5store import StoreWriter
from tokkit.metrics.usage import codebook_usage

N, H, W, D, K = 30, 3, 4, 8, 20


def write_features(path, n=N, rows=None, finish=True, dtype="float16"):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, H * W, D)).astype(dtype)
    wr = StoreWriter(
        path,
        "feature",
        n,
        {"features": ((H * W, D), dtype), "image_index": ((), "int64")},
        {"encoder": "pixels", "layer": "-1", "image_size": 12, "grid": [H, W]},
        chunk_rows=8,
    )
    rows = n if rows is None else rows
    for a in range(0, rows, 8):
        b = min(a + 8, rows)
        wr.write(a, {"features": x[a:b], "image_index": np.arange(a, b)})
    if finish:
        wr.finish()
    wr.close()
    return x


def write_tokens(path, tokens, **attrs):
    n = len(tokens)
    with StoreWriter(
        path,
        "token",
        n,
        {"tokens": (tokens.shape[1:], "int32"), "image_index": ((), "int64")},
        {"codebook_size": K, "tokenizer": "test", "grid": [H, W], **attrs},
    ) as wr:
        if n:
            wr.write(0, {"tokens": tokens, "image_index": np.arange(n)})
        wr.finish()


def test_features_summary_matches_numpy(cli, tmp_path):
    x = write_features(tmp_path / "f.h5")
    r = cli("inspect", "features", tmp_path / "f.h5", "--json", "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["shape"] == [N, H * W, D] and out["dtype"] == "float16" and out["grid"] == [H, W]
    assert out["encoder"] == "pixels" and out["completeness"]["complete"] is True
    norms = np.linalg.norm(x.astype(np.float32), axis=-1)
    assert out["norm"]["mean"] == pytest.approx(float(norms.mean()), rel=1e-5)
    assert out["norm"]["max"] == pytest.approx(float(norms.max()), rel=1e-5)
    assert out["nonfinite_vectors"] == 0
    for name in ("norms", "umap"):
        assert_png(tmp_path / "rep" / f"{name}.png")
    assert_html(tmp_path / "rep" / "report.html", 2)
    r = cli("inspect", "features", tmp_path / "f.h5")
    assert r.exit_code == 0 and "30 x 12 x 8" in r.stdout


def test_tokens_usage_and_entropy_map(cli, tmp_path):
    rng = np.random.default_rng(1)
    t = rng.integers(0, K, (N, H, W))
    t[:, 0, 0] = 7  # always the same code: entropy 0
    t[:, 2, :] = rng.integers(0, 2, (N, W))  # two codes: about 1 bit
    write_tokens(tmp_path / "t.h5", t)
    r = cli("inspect", "tokens", tmp_path / "t.h5", "--json", "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    ref = codebook_usage(t, K)
    for key in ("utilization", "perplexity", "dead_codes", "num_tokens"):
        assert out["usage"][key] == pytest.approx(ref[key])
    emap = np.array(out["entropy_map"])
    expected = np.array([[entropy(np.bincount(t[:, i, j], minlength=K), base=2) for j in range(W)] for i in range(H)])
    np.testing.assert_allclose(emap, expected, atol=1e-4)
    assert emap[0, 0] == 0.0
    assert out["position_entropy_bits"]["max_possible"] == pytest.approx(np.log2(K))
    assert_png(tmp_path / "rep" / "usage.png")
    assert_png(tmp_path / "rep" / "entropy.png")
    assert_html(tmp_path / "rep" / "report.html", 2)


def test_flat_tokens_use_the_grid_attr(cli, tmp_path):
    t = np.random.default_rng(2).integers(0, K, (N, H * W))
    write_tokens(tmp_path / "t.h5", t)
    out = json.loads(cli("inspect", "tokens", tmp_path / "t.h5", "--json").stdout)
    assert out["grid"] == [H, W] and np.array(out["entropy_map"]).shape == (H, W)


def test_bad_stores_give_one_clear_line(cli, tmp_path):
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["features"] = np.zeros((2, 3, 4))  # a feature file from elsewhere: inspect features reads it
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["vectors"] = np.zeros((2, 3, 4))
    (tmp_path / "text.h5").write_text("not hdf5")
    write_features(tmp_path / "partial.h5", rows=16, finish=False)
    with StoreWriter(tmp_path / "empty.h5", "token", 0, {"tokens": ((H, W), np.int32)}, {"codebook_size": K}) as w:
        w.finish()
    cases = [
        (("features", tmp_path / "other.h5"), "has no 'features' dataset"),
        (("tokens", tmp_path / "plain.h5"), "not a tokkit store"),
        (("features", tmp_path / "text.h5"), "not a readable HDF5 file"),
        (("features", tmp_path / "partial.h5"), "incomplete (16/30 rows written)"),
        (("tokens", tmp_path / "partial.h5"), "expected a tokkit-token-store"),
        (("tokens", tmp_path / "empty.h5"), "is empty"),
        (("features", tmp_path / "missing.h5"), "does not exist"),
    ]
    for args, message in cases:
        r = cli("inspect", *args)
        assert r.exit_code == 1, (args, r.stdout, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stdout == ""
    out = json.loads(cli("inspect", "features", tmp_path / "plain.h5", "--json").stdout)
    assert out["source_kind"] == "hdf5" and out["shape"] == [2, 3, 4] and out["encoder"] is None
    # --partial inspects the rows written so far and says so
    out = json.loads(cli("inspect", "features", tmp_path / "partial.h5", "--partial", "--json").stdout)
    assert out["completeness"] == {"num_rows": 30, "committed": 16, "complete": False, "fraction": 16 / 30}
    assert out["sample"]["rows"] == 16
    # token ids outside the codebook
    write_tokens(tmp_path / "oob.h5", np.full((2, H, W), K + 3))
    r = cli("inspect", "tokens", tmp_path / "oob.h5")
    assert r.exit_code == 1 and "outside [0, 20)" in r.stderr

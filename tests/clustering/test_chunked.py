"""tokenize --features chunks by points, whatever the feature shape: indices equal a faiss
IndexFlatL2 search and a float64 brute force on (N, 1, D) and (N, T, D); the CPU path of tokenize
and of fit-kmeans (faiss, random init) never imports torch."""

from __future__ import annotations

import subprocess
import sys

import faiss
import h5py
import numpy as np
import pytest

from tokkit.io.h5store import StoreWriter

IDENT = {"encoder": "synthetic", "layer": "none", "image_size": 0, "l2_normalize": False}


def store(path, n, t, d, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, t, d)) * 3).astype(np.float16)
    grid = [1, 1] if t == 1 else [int(np.sqrt(t))] * 2
    ds = {"features": ((t, d), np.float16), "image_index": ((), np.int64)}
    with StoreWriter(path, "feature", n, ds, {**IDENT, "grid": grid}, chunk_rows=7) as w:
        w.write(0, {"features": x, "image_index": np.arange(n)})
        w.finish()
    return x.reshape(-1, d).astype(np.float32)


def checkpoint(path, k, d, seed=1):
    from dataclasses import asdict

    from tokkit.clustering.config import KMeansConfig
    from tokkit.io.checkpoint import save_array_checkpoint

    c = (np.random.default_rng(seed).standard_normal((k, d)) * 3).astype(np.float32)
    cfg = KMeansConfig(encoder="synthetic", layer="none", image_size=0, codebook_size=k, dim=d)
    save_array_checkpoint(path, "kmeans", "discrete", asdict(cfg), {"centroids": c})
    return c


@pytest.mark.parametrize("n,t", [(3000, 1), (40, 64)])
def test_chunked_tokenize_equals_faiss_on_any_shape(tmp_path, monkeypatch, n, t):
    import tokkit.clustering.tokenize as tk

    d, k = 24, 50
    x = store(tmp_path / "f.h5", n, t, d)
    c = checkpoint(tmp_path / "km", k, d)
    monkeypatch.setattr(tk, "CHUNK_POINTS", 500)  # several chunks at test size
    rows = tk.chunk_rows_for(t, d)
    assert rows == max(1, 500 // t)  # by points, not rows
    r = tk.tokenize(tmp_path / "km", tmp_path / "t.h5", features=tmp_path / "f.h5", device="cpu")
    with h5py.File(tmp_path / "t.h5", "r") as f:
        got = f["tokens"][:].reshape(-1)
        assert f["tokens"].chunks[0] == rows and f.attrs["complete"]
    index = faiss.IndexFlatL2(d)
    index.add(c)
    ref = index.search(x, 1)[1][:, 0]
    brute = ((x[:, None].astype(np.float64) - c[None].astype(np.float64)) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got, brute)
    assert r.num_images == n and r.tokens_per_image == t


def test_default_chunks_hold_points_not_rows():
    from tokkit.clustering.tokenize import CHUNK_POINTS, chunk_rows_for

    assert chunk_rows_for(1, 256) == CHUNK_POINTS  # pooled vectors: 65536 rows, one faiss call
    assert chunk_rows_for(256, 256) == CHUNK_POINTS // 256
    assert chunk_rows_for(256, 1 << 20) == 1  # huge D: the byte cap, at least one row


NO_TORCH = """
import sys
from tokkit.clustering.fit import fit_kmeans
from tokkit.clustering.tokenize import tokenize
fit_kmeans(8, sys.argv[1] + "/km", features=sys.argv[2], init="random", niter=3)
tokenize(sys.argv[1] + "/km", sys.argv[1] + "/t.h5", features=sys.argv[2])
print("torch" in sys.modules)
"""


def test_cpu_feature_paths_never_import_torch(tmp_path):
    store(tmp_path / "f.h5", 200, 1, 8)
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(tmp_path), str(tmp_path / "f.h5")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False"
    from tokkit import load_tokenizer

    tok = load_tokenizer(tmp_path / "km")  # the torch-free checkpoint loads like any other
    assert tok.codebook.shape == (8, 8)

"""The ``tokenizer:DIR`` encoder on imported checkpoints: extract gives the imported tokenizer's own
pre-quantization features (VAR, LlamaGen, taming, MAR KL-16 fixtures made by the reference code),
and a k-means codebook fits and tokenizes on them."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from tests.importers.fixtures_vq import FIXTURES, IMAGE_SIZE, imported
from tokkit.io.checkpoint import load_tokenizer

MAR = FIXTURES / "mar_kl16_tiny.ckpt"


def _imported(family: str, out):
    if family != "mar-kl16":
        return imported(family, out)
    from tokkit.importers import import_checkpoint

    import_checkpoint("mar-kl16", MAR, out)
    return out


@pytest.mark.parametrize("family", ["var", "llamagen", "taming", "mar-kl16"])
def test_extract_with_imported_tokenizer_gives_its_features(family, tmp_path, cli):
    ckpt = _imported(family, tmp_path / family)
    data = f"builtin:photos:n=6,size={IMAGE_SIZE}"
    feats = tmp_path / "f.h5"
    r = cli("extract", "--encoder", f"tokenizer:{ckpt}", "--data", data, "--image-size", IMAGE_SIZE,
            "--out", feats, "--dtype", "float32", "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    tok = load_tokenizer(ckpt)
    from tokkit.data import open_source
    from tokkit.data.transforms import eval_transform

    src = open_source(data)
    x = torch.stack([eval_transform(src.read(i), IMAGE_SIZE) for i in range(len(src))])
    with torch.no_grad():
        want = tok.encode(x).features  # (B, D, h, w): what the imported tokenizer quantizes
    with h5py.File(feats, "r") as f:
        got = f["features"][:]  # (N, h*w, D)
        assert list(f.attrs["grid"]) == list(want.shape[-2:])
    b, d, h, w = want.shape
    np.testing.assert_allclose(got, want.permute(0, 2, 3, 1).reshape(b, h * w, d).numpy(), atol=1e-5, rtol=0)
    # a codebook on those features tokenizes them
    km, tokens = tmp_path / "km", tmp_path / "t.h5"
    r = cli("fit-kmeans", "--features", feats, "--k", 8, "--out", km, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["dim"] == d
    r = cli("tokenize", "--tokenizer", km, "--features", feats, "--out", tokens, "--json")
    assert r.exit_code == 0, r.stderr
    with h5py.File(tokens, "r") as f:
        assert f["tokens"].shape == (len(src), h, w) and len(np.unique(f["tokens"][:])) > 1

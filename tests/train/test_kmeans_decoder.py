"""tokkit train kmeans-decoder: a pixel decoder on frozen k-means tokens, saved as a decodable k-means tokenizer."""

from __future__ import annotations

import json

import pytest
import torch

from tokkit.errors import UsageError
from tokkit.io.checkpoint import load_tokenizer, save_checkpoint


@pytest.fixture
def kmeans_ckpt(tmp_path):
    from tokkit.data.dataset import ImageDataset
    from tokkit.data.sources import open_source
    from tokkit.layers.quantizer import kmeans
    from tokkit.tokenizers import create_tokenizer

    tok = create_tokenizer("kmeans", encoder="pixels", layer=4, image_size=16, codebook_size=16, dim=48)
    ds = ImageDataset(open_source("builtin:shapes:n=16,size=16"), 16)
    x = torch.stack([ds[i][0] for i in range(16)])
    feats = tok.features(x).permute(0, 2, 3, 1).reshape(-1, 48)
    torch.manual_seed(0)
    tok.set_centroids(kmeans(feats, 16, 10))
    return save_checkpoint(tok, tmp_path / "km")


def test_kmeans_decoder_trains_and_loads(kmeans_ckpt, tmp_path, cli):
    before = load_tokenizer(kmeans_ckpt)
    assert not before.can_decode
    r = cli("train", "kmeans-decoder", "--tokenizer", kmeans_ckpt, "--data", "builtin:shapes:n=16,size=16",
            "--out", tmp_path / "run", "--steps", "40", "--batch-size", "4", "--json",
            "--set", "decoder.channels=8", "--set", "decoder.z_channels=16", "--set", "eval_images=8",
            "--set", "lr=3e-3")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["psnr_end"] > res["psnr_start"] + 1.0
    tok = load_tokenizer(res["final_checkpoint"])
    assert tok.architecture == "kmeans" and tok.can_decode
    assert tok.config.decoder["upsample"] == 4 and tok.config.decoder["image_size"] == 16
    torch.testing.assert_close(tok.centroids, before.centroids)  # the codebook stayed frozen
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        tokens = tok.encode(x)
        assert torch.equal(tokens.indices, before.encode(x).indices)
        assert tok.decode(tokens).shape == (2, 3, 16, 16)


def test_kmeans_decoder_errors(kmeans_ckpt, tmp_path):
    from tokkit.train import resolve_config

    with pytest.raises(UsageError, match="needs --tokenizer"):
        resolve_config("kmeans-decoder", flags={"data": "builtin:shapes"})
    vq = tmp_path / "vq"
    from tokkit.tokenizers import create_tokenizer

    save_checkpoint(create_tokenizer("vqgan-tiny"), vq)
    with pytest.raises(UsageError, match="needs a k-means tokenizer"):
        resolve_config("kmeans-decoder", flags={"data": "builtin:shapes", "tokenizer": str(vq)})
    cfg = resolve_config("kmeans-decoder", flags={"data": "builtin:shapes", "tokenizer": str(kmeans_ckpt)})
    assert cfg.image_size == 16  # taken from the tokenizer

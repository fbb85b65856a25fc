"""The k-means tokenizer's checkpoint: centroids and decoder saved, the frozen encoder never."""

from __future__ import annotations

import pytest
import torch

from tokkit.errors import TokkitError
from tokkit.io.checkpoint import load_tokenizer, save_checkpoint
from tokkit.tokenizers import create_tokenizer


def test_checkpoint_holds_centroids_and_decoder_not_encoder(tmp_path):
    dec = {"upsample": 4, "channels": 8, "max_mult": 2, "z_channels": 8}
    tok = create_tokenizer("kmeans", encoder="pixels", layer=4, image_size=16, codebook_size=6, dim=48, decoder=dec)
    tok.set_centroids(torch.randn(6, 48))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    tb = tok.encode(x)  # builds the encoder
    assert tok.can_decode and tok.token_shape(16) == (4, 4) and tok.downsample_factor == 4
    state = tok.checkpoint_state()
    assert "centroids" in state and any(k.startswith("decoder.") for k in state)
    assert all(k == "centroids" or k.startswith("decoder.") for k in state)
    assert all(not k.startswith("_encoder") for k in tok.state_dict())
    with torch.no_grad():
        recon = tok.decode(tb)
    assert recon.shape == (2, 3, 16, 16)
    save_checkpoint(tok, tmp_path / "ck")
    loaded = load_tokenizer(tmp_path / "ck")
    with torch.no_grad():
        torch.testing.assert_close(loaded.decode(loaded.encode(x)), recon)


def test_encoder_dim_must_match_codebook(tmp_path):
    tok = create_tokenizer("kmeans", encoder="pixels", layer=4, image_size=16, codebook_size=4, dim=12)
    with pytest.raises(TokkitError, match="48-d features, the codebook is 12-d"):
        tok.encode(torch.zeros(1, 3, 16, 16))

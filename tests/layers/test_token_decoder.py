"""TokenDecoder on its own: shapes for power-of-two and ViT/14-style factors, centroid init, learning."""

from __future__ import annotations

import pytest
import torch

from tokkit.layers.token_decoder import TokenDecoder


@pytest.mark.parametrize("upsample,grid", [(4, 3), (14, 2), (1, 5)])
def test_output_shape(upsample, grid):
    dec = TokenDecoder(codebook_size=10, code_dim=6, upsample=upsample, channels=8, z_channels=8)
    idx = torch.randint(0, 10, (2, grid, grid))
    out = dec(idx)
    assert out.shape == (2, 3, grid * upsample, grid * upsample) and torch.isfinite(out).all()


def test_init_from_codebook_and_errors():
    dec = TokenDecoder(codebook_size=5, code_dim=3, channels=8, z_channels=8, upsample=2)
    codes = torch.randn(5, 3)
    dec.init_from_codebook(codes)
    torch.testing.assert_close(dec.embed.weight.detach(), codes)
    with pytest.raises(ValueError, match="does not fit"):
        dec.init_from_codebook(torch.randn(4, 3))
    with pytest.raises(ValueError, match="indices"):
        dec(torch.zeros(2, 3, dtype=torch.long))


def test_learns_to_paint_tokens():
    """Each of 4 codes is a flat colour: the decoder must learn the mapping (loss falls a lot)."""
    torch.manual_seed(0)
    colours = torch.tensor([[1.0, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1]])
    dec = TokenDecoder(codebook_size=4, code_dim=2, upsample=4, channels=8, z_channels=8)
    opt = torch.optim.Adam(dec.parameters(), lr=3e-3)
    idx = torch.randint(0, 4, (4, 2, 2))
    target = colours[idx].permute(0, 3, 1, 2).repeat_interleave(4, 2).repeat_interleave(4, 3)
    losses = []
    for _ in range(60):
        loss = (dec(idx) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.2 * losses[0]

"""The conv blocks compute the same thing with and without autograd (in place only when no graph is
recorded), their gradients match a plain out-of-place reference, and no conv sees channels_last input."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tokkit.layers.conv import AttnBlock, Decoder, Encoder, ResBlock


def plain_resblock(b: ResBlock, x: torch.Tensor) -> torch.Tensor:
    """The textbook block, out of place everywhere."""
    h = b.conv1(F.silu(b.norm1(x)))
    h = b.conv2(F.silu(b.norm2(h)))
    return b.skip(x) + h


def test_resblock_inference_equals_training_forward_and_gradients_match():
    torch.manual_seed(0)
    for cin, cout in ((8, 8), (8, 16)):  # identity and 1x1-conv skip
        b = ResBlock(cin, cout).eval()
        x = torch.randn(2, cin, 8, 8)
        with torch.no_grad():
            fast = b(x)
        xa = x.clone().requires_grad_(True)
        xb = x.clone().requires_grad_(True)
        out, ref = b(xa), plain_resblock(b, xb)
        torch.testing.assert_close(fast, ref.detach(), rtol=0, atol=1e-6)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
        g = torch.randn_like(out)
        ga = torch.autograd.grad(out, [xa, *b.parameters()], g)
        gb = torch.autograd.grad(ref, [xb, *b.parameters()], g)
        for u, v in zip(ga, gb, strict=True):
            torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-6)


def test_no_conv_receives_channels_last_input():
    """The attention output used to reach the projection as a channels_last-strided view, and the
    layout then spread to every later conv (slower on CPU)."""
    torch.manual_seed(0)
    enc = Encoder(ch=32, ch_mult=(1, 2), num_res_blocks=1, z_channels=4, attn_levels=(1,))
    dec = Decoder(ch=32, ch_mult=(1, 2), num_res_blocks=1, z_channels=4, attn_levels=(1,))
    seen = []
    for m in [*enc.modules(), *dec.modules()]:
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].is_contiguous()))
    with torch.no_grad():
        dec(enc(torch.randn(1, 3, 16, 16)))
    assert seen and all(seen)
    a = AttnBlock(32)
    x = torch.randn(1, 32, 4, 4)
    with torch.no_grad():
        assert a(x).is_contiguous()

"""VAR multi-scale residual quantizer against a literal per-scale loop, and its properties."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tokkit.errors import UsageError
from tokkit.layers.quantizer import MultiScaleQuantizer, phi_assignment


def reference_loop(q: MultiScaleQuantizer, f: torch.Tensor):
    """VAR's quantizer written out scale by scale (area down, L2 nearest, bicubic up, phi, residual)."""
    b, c, size, _ = f.shape
    codes = q.codebook.weight
    f_nog = f.detach()
    f_rest = f_nog.clone()
    f_hat = torch.zeros_like(f)
    loss = 0.0
    indices = []
    n = len(q.patch_nums)
    for si, pn in enumerate(q.patch_nums):
        rest = F.interpolate(f_rest, size=(pn, pn), mode="area") if si != n - 1 else f_rest
        flat = rest.permute(0, 2, 3, 1).reshape(-1, c)
        d = flat.pow(2).sum(1, keepdim=True) + codes.pow(2).sum(1) - 2 * flat @ codes.t()
        idx = d.argmin(1)
        h = codes[idx].view(b, pn, pn, c).permute(0, 3, 1, 2)
        if si != n - 1:
            h = F.interpolate(h, size=(size, size), mode="bicubic", align_corners=False)
        h = q.phis[q.phi_of_scale[si]](h)
        f_hat = f_hat + h
        f_rest = f_rest - h
        loss = loss + q.beta * F.mse_loss(f_hat.detach(), f) + F.mse_loss(f_hat, f_nog)
        indices.append(idx.view(b, pn, pn))
    return (f_hat.detach() - f_nog) + f, indices, loss / n, f_hat


def test_phi_assignment_matches_var():
    assert phi_assignment(10, 4) == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]
    assert phi_assignment(1, 4) == [3]


@pytest.mark.parametrize("patch_nums", [(1, 2, 3, 4, 6, 8), (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)])
def test_matches_per_scale_loop_values_and_gradients(patch_nums):
    torch.manual_seed(0)
    q = MultiScaleQuantizer(64, 8, patch_nums).eval()
    with torch.no_grad():
        q.codebook.weight.normal_()
    size = patch_nums[-1]
    f = torch.randn(2, 8, size, size)
    f1 = f.clone().requires_grad_(True)
    f2 = f.clone().requires_grad_(True)
    r = q(f1)
    out_ref, idx_ref, loss_ref, f_hat_ref = reference_loop(q, f2)
    for a, b in zip(r.indices, idx_ref, strict=True):
        assert torch.equal(a, b)
    torch.testing.assert_close(r.f_hat, out_ref, atol=1e-5, rtol=1e-5)
    loss = r.losses["commit"] + r.losses["codebook"]
    torch.testing.assert_close(loss, loss_ref, atol=1e-6, rtol=1e-5)
    # gradients: to the encoder features (straight-through + commitment), the codebook and the phi convs
    w = torch.randn_like(f)
    (loss + (r.f_hat * w).sum()).backward()
    g_code, g_phi = q.codebook.weight.grad.clone(), q.phis[0].weight.grad.clone()
    q.zero_grad()
    (loss_ref + (out_ref * w).sum()).backward()
    torch.testing.assert_close(f1.grad, f2.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(g_code, q.codebook.weight.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(g_phi, q.phis[0].weight.grad, atol=1e-5, rtol=1e-4)


def test_residual_property_and_decode():
    torch.manual_seed(0)
    q = MultiScaleQuantizer(32, 4, (1, 2, 4)).eval()
    f = torch.randn(3, 4, 4, 4)
    r = q(f)
    assert [tuple(i.shape) for i in r.indices] == [(3, 1, 1), (3, 2, 2), (3, 4, 4)]
    contrib = q.contributions(r.indices)
    assert contrib.shape == (3, 3, 4, 4, 4)
    torch.testing.assert_close(contrib.sum(0), r.f_hat)  # sum of per-scale contributions = f_hat
    torch.testing.assert_close(q.decode_indices(r.indices), r.f_hat)
    # each contribution is phi(bicubic-up(code map)) of its scale
    codes = q.codebook.weight[r.indices[1]].permute(0, 3, 1, 2)
    up = F.interpolate(codes, size=(4, 4), mode="bicubic", align_corners=False)
    torch.testing.assert_close(contrib[1], q.phis[q.phi_of_scale[1]](up), atol=1e-6, rtol=1e-5)


def test_per_scale_usage_is_normalised_per_scale():
    torch.manual_seed(0)
    q = MultiScaleQuantizer(1000, 4, (1, 2, 4), usage_window=10_000).train()
    r = q(torch.randn(2, 4, 4, 4))
    for s, idx in zip((1, 2, 4), r.indices, strict=True):
        # the most codes a scale can use is its own token count, not the finest scale's
        assert r.stats[f"usage_s{s}"] == len(idx.unique()) / min(1000, idx.numel())
    assert r.stats["usage_s1"] > 0.4


def test_msvq_tokenizer_image_size_errors():
    from tokkit.tokenizers import create_tokenizer

    tok = create_tokenizer("msvq-tiny")
    assert tok.token_shape(64) == [(1, 1), (2, 2), (3, 3), (4, 4), (6, 6), (8, 8)]
    with pytest.raises(UsageError, match="not divisible"):
        tok.token_shape(60)
    with pytest.raises(UsageError, match="last scale"):
        tok.encode(torch.zeros(1, 3, 32, 32))


def test_default_scales_follow_the_latent_grid():
    from tokkit.tokenizers.msvq import VAR_PATCH_NUMS, scales_for_grid
    from tokkit.train.config import resolve_config

    assert scales_for_grid(16) == VAR_PATCH_NUMS  # VAR's own list at its own grid
    for side in (1, 2, 4, 8, 32):
        s = scales_for_grid(side)
        assert s[0] == 1 and s[-1] == side and list(s) == sorted(set(s))
    assert scales_for_grid(4) == (1, 2, 3, 4)
    data = {"data": "builtin:shapes"}
    # the preset's own scales where they fit, VAR's spacing where they do not, the user's always
    assert "patch_nums" not in resolve_config("msvq-tiny", flags=data).model
    assert resolve_config("msvq-tiny", flags={**data, "image_size": 32}).model["patch_nums"] == [1, 2, 3, 4]
    assert resolve_config("msvq-var", flags={**data, "image_size": 128}).model["patch_nums"] == list(scales_for_grid(8))
    cfg = resolve_config("msvq-tiny", flags={**data, "image_size": 32}, sets=["model.patch_nums=[1,4]"])
    assert cfg.model["patch_nums"] == [1, 4]


def test_train_msvq_tiny_at_32px(cli, tmp_path):
    import json

    sets = ["--set", "model.ch=4", "--set", "eval_images=2", "--set", "num_samples=2"]  # tiny's f8: a 4x4 grid
    r = cli("train", "msvq-tiny", "--image-size", "32", "--data", "builtin:shapes:n=4,size=32", "--steps", "1",
            "--batch-size", "2", "--out", tmp_path / "run", "--json", *sets)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert stored["model"]["patch_nums"] == [1, 2, 3, 4]

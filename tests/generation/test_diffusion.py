"""The diffusion head learns a known 2-D Gaussian mixture; VAR's teacher-forced inputs follow the quantizer."""

from __future__ import annotations

import numpy as np
import torch

from tokkit.generation.diffusion import DiffusionHead, cosine_alphas_cumprod
from tokkit.metrics.fid import frechet_distance

CENTRES = torch.tensor([[-4.0, 0.0], [4.0, 0.0], [0.0, 3.0]])


STEPS = 300


def _mixture(n, g):
    comp = torch.randint(0, 3, (n,), generator=g)
    return CENTRES[comp] + 0.3 * torch.randn(n, 2, generator=g)


def _fd(a, b):
    a, b = a.double().numpy(), b.double().numpy()
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def _near_a_mode(x):
    return float((torch.cdist(x, CENTRES).min(1).values < 0.9).float().mean())


def test_cosine_schedule_is_iddpm():
    ab = cosine_alphas_cumprod(1000)
    assert ab.shape == (1000,) and np.all(np.diff(ab) < 0) and 0.999 < ab[0] < 1 and ab[-1] < 1e-4


def test_head_samples_a_gaussian_mixture():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    head = DiffusionHead(2, 8, width=64, depth=3, train_steps=1000, sample_steps=50, batch_mul=4)
    opt = torch.optim.AdamW(head.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, STEPS)
    z = torch.zeros(128, 8)  # one condition: the head alone models the distribution
    for _ in range(STEPS):
        loss = head.loss(_mixture(128, g), z).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    head.clip = 6.0  # the data lie within |x| < 6 (the probe sets it from its training tokens)
    real = _mixture(2000, g)
    noise = torch.randn(2000, head.noise_draws, 2, generator=g)
    fake = head.sample(torch.zeros(2000, 8), noise)
    gauss = torch.randn(2000, 2, generator=g)
    fd_fake, fd_gauss = _fd(fake, real), _fd(gauss, real)
    assert fd_gauss > 4.0  # the unit Gaussian is far from this mixture ...
    assert fd_fake < 0.5  # ... the trained head is close to it (fixed bound)
    assert _near_a_mode(fake) > 0.85 and _near_a_mode(gauss) < 0.35  # and it puts its mass on the modes


def test_next_scale_inputs_follow_the_quantizer():
    """Block k = area-downsampled running f_hat of scales < k, the sum the quantizer itself builds."""
    import torch.nn.functional as F

    from tokkit.tokenizers import create_tokenizer

    torch.manual_seed(0)
    tok = create_tokenizer("msvq-tiny", patch_nums=(1, 2, 4)).eval()
    maps = tok.encode(torch.rand(2, 3, 32, 32) * 2 - 1).index_maps()
    got = tok.next_scale_inputs(maps)
    assert got.shape == (2, 4 + 16, 16)
    cum = tok.quantizer.contributions(maps).cumsum(0)  # (S, B, C, 4, 4): f_hat after each scale
    want = torch.cat([F.adaptive_avg_pool2d(cum[k - 1], s).flatten(2).transpose(1, 2) for k, s in ((1, 2), (2, 4))], 1)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tok.next_scale_inputs(maps[:1]), want[:, :4], rtol=1e-5, atol=1e-5)  # partial maps

"""Vector quantizer options against brute-force references."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tokkit.layers.quantizer import UsageWindow, VectorQuantizer, entropy_penalty, kmeans, nearest


def test_nearest_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    z, c = torch.randn(500, 6, generator=g), torch.randn(37, 6, generator=g)
    assert torch.equal(nearest(z, c, chunk=64), torch.cdist(z, c).argmin(1))


def test_vq_forward_losses_and_straight_through():
    torch.manual_seed(0)
    vq = VectorQuantizer(16, 4, in_dim=8, beta=0.25).train()
    x = torch.randn(2, 8, 3, 3, requires_grad=True)
    r = vq(x)
    z = vq.project_in(x).permute(0, 2, 3, 1).reshape(-1, 4)
    codes = vq.codebook.weight
    idx = torch.cdist(z, codes).argmin(1)
    assert torch.equal(r.indices.reshape(-1), idx)
    z_q = codes[idx]
    # beta on the commitment (encoder) term, the codebook term unweighted
    torch.testing.assert_close(r.losses["commit"], 0.25 * F.mse_loss(z, z_q))
    torch.testing.assert_close(r.losses["codebook"], F.mse_loss(z_q, z))
    torch.testing.assert_close(r.out, vq.project_out(z_q.view(2, 3, 3, 4).permute(0, 3, 1, 2)))
    r.out.sum().backward()  # straight-through: the input gets a gradient
    assert x.grad is not None and x.grad.abs().sum() > 0
    r.losses["codebook"].backward()
    assert vq.codebook.weight.grad is not None


def test_cosine_codes_are_unit_norm():
    vq = VectorQuantizer(32, 8, l2_norm=True).eval()
    r = vq(torch.randn(2, 8, 4, 4))
    torch.testing.assert_close(r.z_q.norm(dim=1), torch.ones(2, 4, 4))
    torch.testing.assert_close(r.z.norm(dim=1), torch.ones(2, 4, 4))
    torch.testing.assert_close(vq.codebook.codes().norm(dim=1), torch.ones(32))


def test_ema_update_matches_formula():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 2, ema_decay=0.9).train()
    assert not vq.codebook.weight.requires_grad  # the optimizer never sees an EMA codebook
    before = vq.codebook.weight.detach().clone()
    x = torch.randn(1, 2, 5, 5)
    r = vq(x)
    assert "codebook" not in r.losses
    z = x.permute(0, 2, 3, 1).reshape(-1, 2)
    idx = r.indices.reshape(-1)
    counts = torch.bincount(idx, minlength=4).float()
    sums = torch.zeros(4, 2).index_add_(0, idx, z)
    cs = 0.1 * counts
    ea = 0.9 * before + 0.1 * sums
    n = cs.sum()
    expected = ea / ((cs + 1e-5) / (n + 4e-5) * n)[:, None]
    torch.testing.assert_close(vq.codebook.weight.detach(), expected)


def test_kmeans_init_recovers_clusters():
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[5.0, 0], [-5, 0], [0, 5], [0, -5]])
    pts = centers.repeat_interleave(50, 0) + 0.1 * torch.randn(200, 2, generator=g)
    torch.manual_seed(1)
    vq = VectorQuantizer(4, 2, kmeans_init=True).train()
    assert int(vq.codebook.initted) == 0
    vq(pts.t().reshape(1, 2, 200, 1))
    assert int(vq.codebook.initted) == 1
    got = vq.codebook.weight.detach()
    assert torch.cdist(centers, got).min(1).values.max() < 0.2
    # the k-means result is a Lloyd fixed point: scikit-learn started there does not move it
    from sklearn.cluster import KMeans

    torch.manual_seed(3)
    c = kmeans(pts, 4, 10)
    sk = KMeans(4, init=c.numpy().copy(), n_init=1, max_iter=10, algorithm="lloyd").fit(pts.numpy())
    torch.testing.assert_close(c, torch.from_numpy(sk.cluster_centers_).float(), atol=1e-4, rtol=1e-4)


def test_dead_codes_are_restarted_from_data():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 2, dead_code_threshold=0.5).train()
    with torch.no_grad():
        vq.codebook.weight.fill_(100.0)  # all far away ...
        vq.codebook.weight[0].zero_()  # ... except code 0, which takes every vector
    x = torch.randn(1, 2, 6, 6)
    rs = [vq(x) for _ in range(3)]
    data = x.permute(0, 2, 3, 1).reshape(-1, 2)
    w = vq.codebook.weight.detach()
    restarted = w[1:]
    # every dead code now equals one of the batch vectors
    d2 = ((restarted[:, None] - data[None]) ** 2).sum(-1)
    assert d2.min(1).values.max() < 1e-10
    assert sum(r.stats["restarted"] for r in rs) >= 7  # all 7 dead codes were restarted at least once


def test_entropy_penalty_brute_force_and_in_losses():
    g = torch.Generator().manual_seed(0)
    z, c = torch.randn(10, 3, generator=g), torch.randn(5, 3, generator=g)
    d = ((z[:, None] - c[None]) ** 2).sum(-1)
    p = torch.softmax(-d / 0.5, -1)
    h_tok = -(p * p.log()).sum(-1).mean()
    avg = p.mean(0)
    expected = h_tok + (avg * avg.log()).sum()
    torch.testing.assert_close(entropy_penalty(z, c, 0.5), expected, rtol=1e-4, atol=1e-5)
    vq = VectorQuantizer(5, 3, entropy_weight=0.1).train()
    assert "entropy" in vq(torch.randn(1, 3, 2, 2)).losses


def test_quantization_runs_in_fp32_under_autocast():
    torch.manual_seed(0)
    vq = VectorQuantizer(512, 8, in_dim=8).eval()
    x = torch.randn(4, 8, 8, 8)
    ref = vq(x).indices
    with torch.autocast("cpu", dtype=torch.bfloat16):
        r = vq(x)
    assert r.z.dtype == torch.float32
    assert torch.equal(r.indices, ref)


def test_usage_window_is_a_rolling_window():
    w = UsageWindow(codebook_size=10, size=6)
    seen: list[int] = []
    for chunk in ([1, 2, 3], [4, 4], [5, 6, 7, 8], [9] * 10, [0, 1]):
        w.add(torch.tensor(chunk))
        seen += chunk
        last = seen[-6:]
        assert w.usage() == len(set(last)) / min(10, len(last))


def test_usage_window_counts_follow_the_ring():
    """The per-code counts ``add`` keeps equal a recount of the ring, through fills and wraps."""
    g = torch.Generator().manual_seed(0)
    w = UsageWindow(codebook_size=50, size=37)
    for n in [5, 30, 1, 37, 60, 12, 36, 2, 40]:
        w.add(torch.randint(0, 50, (n,), generator=g))
        f = int(w.filled)
        assert torch.equal(w.counts, torch.bincount(w.ring[:f], minlength=50).int())
        assert w.usage() == len(set(w.ring[:f].tolist())) / min(50, f)

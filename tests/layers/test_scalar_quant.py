"""FSQ / LFQ / BSQ: equal to vector-quantize-pytorch (fixture made by tests/fixtures/quantizers/make_fixtures.py),
straight-through gradients, index <-> code round trips."""

from pathlib import Path

import numpy as np
import pytest
import torch

from tokkit.layers.scalar_quant import BSQ, FSQ, LFQ

FIX = np.load(Path(__file__).parents[1] / "fixtures" / "quantizers" / "quantizers.npz")


def _img(x: np.ndarray) -> torch.Tensor:
    """(N, D) -> (1, D, N, 1), as the fixture fed the reference."""
    return torch.from_numpy(x).t()[None, :, :, None].contiguous()


def _flat(t: torch.Tensor) -> np.ndarray:
    return (t[0, :, :, 0].t() if t.ndim == 4 else t.reshape(-1)).detach().numpy()


def _reverse_bits(idx: np.ndarray, bits: int) -> np.ndarray:
    """The reference's index has channel 0 as the most significant bit; tokkit's as the least."""
    return sum(((idx >> i) & 1) << (bits - 1 - i) for i in range(bits))


def test_fsq_matches_reference():
    q = FSQ(tuple(FIX["fsq_levels"]))
    r = q(_img(FIX["fsq_input"]))
    assert np.array_equal(_flat(r.z_q), FIX["fsq_codes"])
    assert np.array_equal(_flat(r.out), FIX["fsq_codes"])
    assert np.array_equal(_flat(r.indices), FIX["fsq_indices"])
    assert len(np.unique(FIX["fsq_indices"])) > 50  # the fixture exercises many codes


@pytest.mark.parametrize("name,cls", [("lfq", LFQ), ("bsq", BSQ)])
def test_lfq_bsq_match_reference(name, cls):
    x = FIX["lfq_input"]
    bits = x.shape[1]
    q = cls(bits, entropy_temperature=1 / float(FIX["lfq_inv_temperature"])).train()
    r = q(_img(x))
    # LFQ: exactly +-1; BSQ: +-1/sqrt(D), the reference's l2norm rounds it to within 1 ulp (3 values)
    np.testing.assert_allclose(_flat(r.z_q), FIX[f"{name}_codes"], rtol=0, atol=0 if name == "lfq" else 1e-7)
    assert np.array_equal(_flat(r.indices), _reverse_bits(FIX[f"{name}_indices"], bits))
    per_token, batch = q.entropy_terms(r.z.permute(0, 2, 3, 1).reshape(-1, bits))
    assert abs(per_token.item() - float(FIX[f"{name}_per_sample_entropy"])) < 1e-5
    assert abs(batch.item() - float(FIX[f"{name}_batch_entropy"])) < 1e-5


@pytest.mark.parametrize("q", [FSQ((8, 5, 5), in_dim=6), LFQ(6, in_dim=6), BSQ(5, in_dim=6)], ids=str)
def test_straight_through_and_round_trip(q):
    q.train()
    x = torch.randn(2, 6, 3, 3, requires_grad=True)
    r = q(x)
    (r.out.square().sum() + sum(r.losses.values())).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.equal(q.lookup(r.indices), r.z_q)
    assert torch.allclose(q.embed(r.indices), q.project_out(r.z_q))
    idx, codes = q.snap(r.z)
    assert torch.equal(idx, r.indices) and torch.equal(codes, r.z_q)
    all_codes = q.codebook.codes()  # (K, D): every index decodes to a code that encodes back to it
    assert all_codes.shape[0] == q.codebook_size
    assert torch.equal(q.codes_to_index(all_codes), torch.arange(q.codebook_size))
    assert r.stats["usage"] > 0


def test_lfq_bit_order_little_endian():
    q = LFQ(3)
    codes = torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, 1.0]])
    assert q.codes_to_index(codes).tolist() == [1, 6]
    assert torch.allclose(BSQ(4).index_to_codes(torch.tensor([0])).norm(dim=-1), torch.ones(1))


@pytest.mark.parametrize("cls", [LFQ, BSQ])
@pytest.mark.parametrize("bits", [1, 7, 10])
def test_factorised_entropy_equals_the_enumeration_over_all_codes(cls, bits):
    """entropy_terms never forms the (N, 2^D) assignments; here they are formed, as the reference does."""
    q = cls(bits, entropy_temperature=0.05)
    z = q.prepare(torch.randn(300, bits, generator=torch.Generator().manual_seed(bits), dtype=torch.float64))
    z = z.requires_grad_(True)
    per_token, batch = q.entropy_terms(z)
    codes = q.index_to_codes(torch.arange(2**bits)).double()
    prob = (2 * z @ codes.t() / q.entropy_temperature).softmax(-1)  # (N, K)
    exact_per_token = -(prob * prob.clamp_min(1e-300).log()).sum(-1).mean()  # no clamp: the true entropy
    torch.testing.assert_close(per_token, exact_per_token, rtol=1e-9, atol=1e-12)
    mean = prob.mean(0)
    torch.testing.assert_close(batch, -(mean * mean.clamp_min(1e-5).log()).sum(), rtol=1e-9, atol=1e-12)
    g1 = torch.autograd.grad(per_token - batch, z)[0]
    g2 = torch.autograd.grad(exact_per_token - -(mean * mean.clamp_min(1e-5).log()).sum(), z)[0]
    torch.testing.assert_close(g1, g2, rtol=1e-6, atol=1e-9)

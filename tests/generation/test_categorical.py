"""The factorised categorical head against the explicit joint distribution it defines: NLL, inverse-CDF
draws with the same uniforms, greedy top-1, guidance; and a probe over a 2^18-code vocabulary."""

from __future__ import annotations

import math

import pytest
import torch

from tokkit.generation.categorical import CategoricalEmbedding, CategoricalHead, categorical_draw, split_sizes


def _joint_log_probs(head: CategoricalHead, z: torch.Tensor, vocab: int) -> torch.Tensor:
    """(M, V) log p(id | z) by enumerating every id through the chain rule."""
    ids = torch.arange(vocab)
    rows = [-head.nll(z[i : i + 1].expand(vocab, -1), ids) for i in range(len(z))]
    return torch.stack(rows).double()


def test_split_sizes():
    assert split_sizes(2**18, 65536) == (512, 512)  # Open-MAGVIT2's 9 + 9 bits
    assert split_sizes(70000, 65536) == (265, 265) and 265 * 265 >= 70000
    assert split_sizes(16384, 65536) is None and split_sizes(65536, 65536) is None
    assert split_sizes(10, 4) == (3, 4)  # the last hi bucket holds 2 real ids


def test_factorised_nll_is_a_normalised_distribution_over_exactly_the_vocabulary():
    torch.manual_seed(0)
    head = CategoricalHead(8, 10, factorise_above=4)
    z = torch.randn(5, 8)
    logp = _joint_log_probs(head, z, 10)
    assert torch.allclose(logp.exp().sum(1), torch.ones(5, dtype=torch.float64), atol=1e-6)
    # no mass on the ids past V in the last bucket: the 10 real ids already sum to one
    assert head.describe().startswith("factorised") and "3 x 4" in head.describe()


def test_draws_equal_inverse_cdf_of_the_joint_with_the_same_uniforms():
    torch.manual_seed(1)
    head = CategoricalHead(8, 10, factorise_above=4)
    z = torch.randn(400, 8)
    u = torch.rand(400)
    joint = _joint_log_probs(head, z, 10)
    expected = categorical_draw(joint, u)
    got = head.draw(z, u)
    assert (got == expected).float().mean() >= 0.995  # a u within rounding of a CDF step may differ
    assert int(got.max()) < 10
    # greedy top-1: the best hi bucket, then its best lo
    hi = head.hi_head(z).argmax(-1)
    assert torch.equal(head.argmax(z) // 4, hi)


def test_guidance_is_per_factor_and_never_nan():
    torch.manual_seed(2)
    head = CategoricalHead(8, 10, factorise_above=4)
    z, zu, u = torch.randn(64, 8), torch.randn(64, 8), torch.rand(64)
    assert torch.equal(head.draw(z, u, zu, cfg=1.0), head.draw(z, u))
    strong = head.draw(z, u, zu, cfg=4.0)
    assert int(strong.min()) >= 0 and int(strong.max()) < 10


def test_unfactorised_head_is_one_softmax():
    torch.manual_seed(3)
    head = CategoricalHead(8, 12, factorise_above=65536)
    z, t = torch.randn(6, 8), torch.randint(0, 12, (6,))
    ref = torch.nn.functional.cross_entropy(head.linear(z), t, reduction="none")
    assert torch.allclose(head.nll(z, t), ref)
    assert torch.equal(head.argmax(z), head.linear(z).argmax(-1))


def test_embedding_sums_sub_token_tables():
    emb = CategoricalEmbedding(2**18, 4, factorise_above=65536)
    ids = torch.tensor([0, 511, 512, 2**18 - 1])
    expected = emb.hi(ids // 512) + emb.lo(ids % 512)
    assert torch.equal(emb(ids), expected)
    assert sum(p.numel() for p in emb.parameters()) == 2 * 512 * 4


@pytest.mark.parametrize("order", ["raster", "random"])
def test_a_probe_over_2_18_codes_trains_with_a_small_head(order):
    from tokkit.generation._base import GENERATORS, TokenSet
    from tokkit.generation.config import ProbeConfig

    vocab = 2**18
    g = torch.Generator().manual_seed(0)
    data = TokenSet(tokens=torch.randint(0, vocab, (8, 16), generator=g), shapes=[(4, 4)], vocab=vocab)
    cfg = ProbeConfig(d_model=32, n_layer=1, n_head=2, steps=2, batch_size=4)
    model = GENERATORS.get(order)(data, cfg, "categorical")
    head = sum(p.numel() for p in model.head.parameters())
    assert head < 100_000  # a full head would hold 2^18 x 33 = 8.7M
    loss = model.loss(data.batch(torch.arange(4), torch.device("cpu")), g)
    value = float(loss.detach())
    assert math.isfinite(value) and value == pytest.approx(math.log(vocab), rel=0.2)
    loss.backward()
    samples = model.sample(2, 0, torch.device("cpu"), 2)
    assert samples.shape == (2, 16) and int(samples.max()) < vocab

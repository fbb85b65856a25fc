"""LFQ's entropy loss under torch.distributed: 2 gloo processes x half the batch = 1 process x the whole batch.

The codebook (batch) entropy is taken of the mean assignment over every process's tokens; with DDP's
gradient averaging (1/world of the sum), each token's gradient is the single-process full-batch one.
"""

from __future__ import annotations

import torch

from tokkit.layers.scalar_quant import LFQ, _entropy

BITS, N, WORLD = 6, 16, 2


def _tokens() -> torch.Tensor:
    """(N, BITS) features small enough that the soft assignments (logits 2 z.c / 0.01) are spread."""
    return torch.randn(N, BITS, generator=torch.Generator().manual_seed(0)) * 0.01


def _terms(z: torch.Tensor) -> dict[str, torch.Tensor]:
    q = LFQ(BITS, entropy_weight=1.0).train()
    z = z.clone().requires_grad_(True)
    per_token, batch = q.entropy_terms(z.detach())
    loss = q.extra_losses(z, q.quantize_flat(z.detach()))["entropy"]
    loss.backward()
    return {"per_token": per_token, "batch": batch, "loss": loss.detach(), "grad": z.grad}


def _worker(rank: int, path: str, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=WORLD)
    half = N // WORLD
    torch.save(_terms(_tokens()[rank * half : (rank + 1) * half]), f"{out}.{rank}")
    dist.destroy_process_group()


def test_entropy_of_two_gloo_processes_equals_one_process(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(str(tmp_path / "rdv"), str(tmp_path / "terms")), nprocs=WORLD, join=True)
    ranks = [torch.load(f"{tmp_path / 'terms'}.{r}", weights_only=True) for r in range(WORLD)]
    one = _terms(_tokens())
    for r in ranks:  # every rank sees the global codebook entropy
        torch.testing.assert_close(r["batch"], one["batch"], rtol=1e-6, atol=0)
    # the local half batch alone has another codebook entropy: the all-reduce matters
    q = LFQ(BITS)
    codes = q.index_to_codes(torch.arange(2**BITS))
    local = _entropy((2 * _tokens()[: N // WORLD] @ codes.t() / 0.01).softmax(-1).mean(0))
    assert abs(float(local) - float(one["batch"])) > 1e-2
    # the loss DDP optimises (mean over ranks) and its gradient (averaged) are the full batch's
    mean_loss = sum(r["loss"] for r in ranks) / WORLD
    torch.testing.assert_close(mean_loss, one["loss"], rtol=1e-5, atol=1e-6)
    grad = torch.cat([r["grad"] for r in ranks]) / WORLD
    torch.testing.assert_close(grad, one["grad"], rtol=1e-4, atol=1e-6)
    assert one["grad"].abs().max() > 1e-3

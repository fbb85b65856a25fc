"""Benchmark: VAR multi-scale quantizer forward+backward, tokkit vs a straightforward per-scale loop.

VAR's full config: 4096 codes x 32 dims, 16x16 latents (256 px, f16), scales 1,2,3,4,5,6,8,10,13,16,
4 shared phi convs. Both implementations run side by side in one process on the same inputs,
interleaved; the reference is VAR's algorithm written scale by scale with autograd throughout.
Outputs (indices, f_hat, loss, gradients) are checked equal before timing.

    python benchmarks/msvq_quantizer.py [--batch 8] [--repeats 10] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from tokkit.layers.quantizer import MultiScaleQuantizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for the tests package
from tests.layers.test_msvq import reference_loop  # noqa: E402  (the one literal per-scale reference)

PATCH_NUMS = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)


def step_tokkit(q, f, w):
    r = q(f)
    (r.losses["commit"] + r.losses["codebook"] + (r.f_hat * w).sum()).backward()
    return r


def step_reference(q, f, w):
    out, idx, loss, _ = reference_loop(q, f)
    (loss + (out * w).sum()).backward()
    return out, idx, loss


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    from machine import machine_info, machine_line

    machine = machine_info()
    dev = torch.device(args.device)
    torch.manual_seed(0)
    q = MultiScaleQuantizer(4096, 32, PATCH_NUMS).to(dev).eval()  # eval: no usage bookkeeping in the timing
    with torch.no_grad():
        q.codebook.weight.normal_(0, 0.5)
    f0 = torch.randn(args.batch, 32, 16, 16, device=dev)
    w = torch.randn_like(f0)

    # correctness first
    f1, f2 = f0.clone().requires_grad_(True), f0.clone().requires_grad_(True)
    r = step_tokkit(q, f1, w)
    g1 = q.codebook.weight.grad.clone()
    q.zero_grad()
    out, idx, loss = step_reference(q, f2, w)
    g2 = q.codebook.weight.grad.clone()
    q.zero_grad()
    same_idx = all(torch.equal(a, b) for a, b in zip(r.indices, idx, strict=True))
    max_fhat = float((r.f_hat - out).detach().abs().max())
    max_grad = max(float((f1.grad - f2.grad).abs().max()), float((g1 - g2).abs().max()))

    times: dict[str, list[float]] = {"tokkit": [], "reference": []}
    for i in range(args.repeats + 2):  # 2 warmups, interleaved so both see the same machine load
        for name, fn in (("tokkit", step_tokkit), ("reference", step_reference)):
            f = f0.clone().requires_grad_(True)
            sync(dev)
            t = time.perf_counter()
            fn(q, f, w)
            sync(dev)
            if i >= 2:
                times[name].append(time.perf_counter() - t)
            q.zero_grad()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"device={dev} batch={args.batch} threads={torch.get_num_threads()} repeats={args.repeats}")
    print(f"indices identical: {same_idx}; max |f_hat diff| {max_fhat:.2e}; max |grad diff| {max_grad:.2e}")
    print(machine_line(info=machine) + "\n")
    print("| implementation | median ms / fwd+bwd | speed-up |")
    print("|---|---|---|")
    for k in ("reference", "tokkit"):
        print(f"| {k} | {1000 * med[k]:.2f} | {med['reference'] / med[k]:.2f}x |")


if __name__ == "__main__":
    main()

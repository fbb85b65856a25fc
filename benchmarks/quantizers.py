"""Benchmark: tokkit's FSQ / LFQ / BSQ (tokkit/layers/scalar_quant.py) vs vector-quantize-pytorch's FSQ / LFQ /
LFQ(spherical=True), forward + backward in training mode, same process, same inputs, alternating repeats.

Cases (B, C, 16, 16) features, fp32 CPU (seconds per forward + backward; FSQ: the mean of 20 calls per repeat):
- FSQ levels [8, 8, 8, 5, 5, 5] (64000 codes; Cosmos, the FSQ paper), B = 32;
- LFQ / BSQ 18 bits (Open-MAGVIT2's 2^18 codes) with the entropy loss (temperature 0.01, weight 0.1) and a
  0.25 commitment loss on both sides; the reference's entropy materialises (N, 2^18) probabilities, so B is
  small enough for it to fit in this machine's memory (B = 2: N = 512 tokens, 0.5 GiB per (N, K) tensor);
- LFQ / BSQ 14 bits at B = 32 (N = 8192, the realistic token count; 2^14 codes).
The loss is ``out.square().sum() + aux losses``; backward runs into the features. The oracle is not a tokkit
dependency: install it beside, e.g. ``pip install --no-deps --target DIR vector-quantize-pytorch==1.32.0 einops
einx frozendict loguru torch_einops_utils`` and run ``PYTHONPATH=DIR python benchmarks/quantizers.py``.
Prints one JSON line per case (times, medians, ratio = reference / tokkit: >= 1 means tokkit is as fast or
faster, and the largest difference of the entropy terms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INV_T = 100.0  # the reference's default inverse temperature = tokkit's entropy_temperature 0.01


def cases(only: str | None) -> list[dict]:
    out = [dict(name="fsq [8,8,8,5,5,5]", kind="fsq", batch=32, dim=6, inner=20)]
    for bits, batch in ((18, 2), (14, 32)):
        out += [dict(name=f"lfq {bits} bit", kind="lfq", batch=batch, dim=bits, inner=1),
                dict(name=f"bsq {bits} bit", kind="bsq", batch=batch, dim=bits, inner=1)]  # fmt: skip
    return [c for c in out if only is None or c["kind"] in only.split(",")]


def build(case: dict):
    """(reference step, tokkit step): each maps features (B, C, 16, 16) to a scalar loss and its entropy terms."""
    from vector_quantize_pytorch import FSQ as RefFSQ
    from vector_quantize_pytorch import LFQ as RefLFQ

    from tokkit.layers.scalar_quant import BSQ, FSQ, LFQ

    if case["kind"] == "fsq":
        ref, tok = RefFSQ(levels=[8, 8, 8, 5, 5, 5]), FSQ((8, 8, 8, 5, 5, 5))

        def ref_step(x):
            out, _ = ref(x)
            return out.square().sum(), ()

    else:
        spherical = case["kind"] == "bsq"
        ref = RefLFQ(dim=case["dim"], entropy_loss_weight=0.1, commitment_loss_weight=0.25, spherical=spherical)
        cls = BSQ if spherical else LFQ
        tok = cls(case["dim"], entropy_weight=0.1, entropy_temperature=1 / INV_T, beta=0.25)

        def ref_step(x):
            (out, _, aux), br = ref(x, inv_temperature=INV_T, return_loss_breakdown=True)
            return out.square().sum() + aux, (br.per_sample_entropy.detach(), br.batch_entropy.detach())

    ref.train()
    tok.train()

    def tok_step(x):
        r = tok(x)
        terms = ()
        if case["kind"] != "fsq":
            with torch.no_grad():
                terms = tok.entropy_terms(r.z.permute(0, 2, 3, 1).reshape(-1, case["dim"]))
        return r.out.square().sum() + sum(r.losses.values()), terms

    return ref_step, tok_step


def run_case(case: dict, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(case["batch"], case["dim"], 16, 16, generator=g)
    ref_step, tok_step = build(case)
    times: dict[str, list[float]] = {"reference": [], "tokkit": []}
    cpu: dict[str, list[float]] = {"reference": [], "tokkit": []}
    terms = {}
    for _ in range(repeats):
        for name, step in (("reference", ref_step), ("tokkit", tok_step)):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(case["inner"]):  # FSQ: many calls per timing, one is a few ms
                x = x0.clone().requires_grad_(True)
                loss, terms[name] = step(x)
                loss.backward()
            times[name].append((time.perf_counter() - t0) / case["inner"])
            cpu[name].append((time.process_time() - c0) / case["inner"])  # steadier than wall time under load
            print(f"{case['name']} {name}: {times[name][-1]:.3f} s", file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    diff = max(
        (abs(float(a) - float(b)) for a, b in zip(terms["reference"], terms["tokkit"], strict=True)), default=0.0
    )
    return {
        **case,
        "tokens": case["batch"] * 256,
        "seconds": times,
        "median_s": med,
        "ratio_reference_over_tokkit": med["reference"] / med["tokkit"],
        "min_s": {k: min(v) for k, v in times.items()},
        "ratio_of_minima": min(times["reference"]) / min(times["tokkit"]),
        "cpu_s": cpu,
        "cpu_ratio": statistics.median(cpu["reference"]) / statistics.median(cpu["tokkit"]),
        "pair_ratio_median": statistics.median(r / t for r, t in zip(times["reference"], times["tokkit"], strict=True)),
        "entropy_terms": {k: [float(t) for t in v] for k, v in terms.items()},
        "max_entropy_term_diff": diff,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", default=None, help="comma-separated kinds: fsq,lfq,bsq")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from machine import machine_info

    print(json.dumps({"machine": machine_info(), "vector-quantize-pytorch": version("vector-quantize-pytorch")}))
    for case in cases(args.only):
        print(json.dumps(run_case(case, args.repeats)), flush=True)


if __name__ == "__main__":
    main()

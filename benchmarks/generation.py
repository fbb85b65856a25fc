"""Benchmarks of the generation probes (tokkit/generation), recorded in benchmarks/generation.md.

1. ``kv``: raster sampling with the KV cache vs full recompute (the same model, the same seeded draws,
   samples checked equal), 256 tokens, default probe backbone.
2. ``throughput``: probe training steps/s of ``train_generator`` vs a bare torch loop over the same
   model, data, batches and math (forward, backward, lr schedule, grad clipping, AdamW step), without
   the harness (batch assembly through TokenSet, loss bookkeeping, progress).
3. ``probes``: each probe's wall time (tokenize, train with the default budget, score; and sampling
   N images) on builtin:photos at 64 px, for the checkpoints given.
Runs alternate (A, B, A, B, ...) and the median of ``--repeats`` is reported, so the ratio holds
on a loaded machine.

    python benchmarks/generation.py kv [--repeats 3] [--threads 1] [--kv-samples 4]
    python benchmarks/generation.py throughput [--repeats 3]
    python benchmarks/generation.py probes CKPT[:ORDER] ... [--samples 51]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tokkit.generation import GENERATORS, ProbeConfig, TokenSet, evaluate_generation
from tokkit.generation._base import lr_at
from tokkit.generation.train import train_generator


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_kv(repeats: int, n: int) -> None:
    length, vocab = 256, 512
    data = TokenSet(torch.randint(0, vocab, (16, length)), [(16, 16)], vocab)
    torch.manual_seed(0)
    model = GENERATORS.get("raster")(data, ProbeConfig(), "categorical").eval()
    dev = torch.device("cpu")
    a = model.sample(n, 0, dev, n, use_cache=True)
    b = model.sample(n, 0, dev, n, use_cache=False)
    assert torch.equal(a, b), "KV-cache samples differ from full recompute"
    cached, full = [], []
    for _ in range(repeats):
        cached.append(_time(lambda: model.sample(n, 0, dev, n, use_cache=True)))
        full.append(_time(lambda: model.sample(n, 0, dev, n, use_cache=False)))
    c, f = statistics.median(cached), statistics.median(full)
    print(f"kv: {length} tokens x {n} samples, {sum(p.numel() for p in model.parameters()):,} params: "
          f"cache {c:.2f}s, recompute {f:.2f}s, speedup {f / c:.1f}x (median of {repeats}); samples equal")  # fmt: skip


def bench_throughput(repeats: int, steps: int) -> None:
    length, vocab = 64, 1024
    data = TokenSet(torch.randint(0, vocab, (200, length)), [(8, 8)], vocab)
    config = ProbeConfig(steps=steps)
    dev = torch.device("cpu")

    def probe_loop() -> None:
        torch.manual_seed(0)
        model = GENERATORS.get("raster")(data, config, "categorical")
        train_generator(model, data, config, 0, dev)

    def bare_loop() -> None:
        torch.manual_seed(0)
        model = GENERATORS.get("raster")(data, config, "categorical")
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.95))
        g = torch.Generator().manual_seed(0)
        model.train()
        for step in range(steps):
            batch = {"tokens": data.tokens[torch.randint(0, 200, (config.batch_size,), generator=g)]}
            loss = model.loss(batch, g)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, config)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()

    probe, bare = [], []
    for _ in range(repeats):
        probe.append(_time(probe_loop))
        bare.append(_time(bare_loop))
    p, b = statistics.median(probe), statistics.median(bare)
    print(f"throughput: {steps} steps x {config.batch_size} x {length} tokens: probe {steps / p:.1f} steps/s, "
          f"bare loop {steps / b:.1f} steps/s, ratio {b / p:.3f}x (median of {repeats})")  # fmt: skip


def bench_probes(specs: list[str], data: str, samples: int, image_size: int) -> None:
    for spec in specs:
        path, _, order = spec.partition(":")
        t, c = time.perf_counter(), time.process_time()
        r = evaluate_generation(path, data, image_size=image_size, order=order or None, samples=0, seed=0)
        train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        r = evaluate_generation(path, data, image_size=image_size, order=order or None, samples=samples, seed=0)
        total_s, total_cpu = time.perf_counter() - t, time.process_time() - c
        b = r["probe"]["budget"]
        print(f"probe {path} {r['order']}/{r['head']}: L={r['probe']['sequence_length']} "
              f"params={b['parameters']:,} steps={b['steps']}: probe {train_s:.0f}s wall / {train_cpu:.0f}s CPU; "
              f"with {samples} samples + gFID {total_s:.0f}s wall / {total_cpu:.0f}s CPU; "
              f"gfid={r['gfid']:.2f} floor={r['gfid_floor']:.2f} rfid={r['rfid']:.2f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["kv", "throughput", "probes"])
    ap.add_argument("specs", nargs="*")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--kv-samples", type=int, default=4)
    ap.add_argument("--data", default="builtin:photos")
    ap.add_argument("--samples", type=int, default=51)
    ap.add_argument("--image-size", type=int, default=64)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"threads={torch.get_num_threads()} torch={torch.__version__}")
    from machine import machine_line

    print(machine_line(), flush=True)
    if args.what == "kv":
        bench_kv(args.repeats, args.kv_samples)
    elif args.what == "throughput":
        bench_throughput(args.repeats, args.steps)
    else:
        bench_probes(args.specs, args.data, args.samples, args.image_size)


if __name__ == "__main__":
    main()

"""Benchmark: every -tiny architecture on builtin:photos at 64 px, same budget, held-out quality.

Budget: 300 optimizer steps x batch 8 at 64 px (the done-when command), single process; a step
budget keeps the comparison reproducible on a shared machine, and the CPU seconds each run used
are recorded beside it. Quality is measured on 64 held-out crops (``builtin:photos`` with another
seed, never seen in training): PSNR and SSIM on [0, 1] RGB with data_range 1 (scikit-image), codebook
utilization over all held-out tokens (per scale averaged for msvq). The untrained model (step 0,
same seed) is measured the same way.

    python benchmarks/train_tiny.py [--steps 300] [--runs runs/bench] [--only vqgan-tiny,...]
        [--kmeans runs/km]   # a k-means tokenizer checkpoint for the kmeans-decoder row

Appends a results table to stdout in markdown; copy it into benchmarks/train.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tokkit.data.dataset import iter_batches
from tokkit.data.sources import open_source
from tokkit.data.transforms import to_uint8
from tokkit.io.checkpoint import load_tokenizer
from tokkit.train import resolve_config
from tokkit.train.loop import build_model

HELD_OUT = "builtin:photos:n=64,seed=1"


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@torch.no_grad()
def measure(tok, size: int) -> dict[str, float]:
    from skimage.metrics import structural_similarity

    tok.eval()
    psnrs, ssims, maps = [], [], []
    for _, x, _ in iter_batches(open_source(HELD_OUT), size, 16, num_workers=0):
        tokens = tok.encode(x)
        recon = tok.decode(tokens)
        a, b = to_uint8(x).astype(np.float64) / 255, to_uint8(recon).astype(np.float64) / 255
        for i in range(len(a)):
            mse = max(((a[i] - b[i]) ** 2).mean(), 1e-10)
            psnrs.append(10 * np.log10(1 / mse))
            ssims.append(structural_similarity(a[i], b[i], data_range=1.0, channel_axis=2))
        maps.append(tokens.index_maps())
    usage = None
    if maps and maps[0]:
        # distinct codes / the most a scale could use (min(K, its token count)), averaged over scales
        per_scale = []
        for s in range(len(maps[0])):
            idx = torch.cat([m[s].reshape(-1) for m in maps])
            per_scale.append(len(idx.unique()) / min(tok.codebook_size, idx.numel()))
        usage = float(np.mean(per_scale))
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)), "usage": usage}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--runs", default="runs/bench")
    ap.add_argument("--only", default="vqgan-tiny,vae-tiny,msvq-tiny,kmeans-decoder")
    ap.add_argument("--kmeans", default=None, help="k-means tokenizer checkpoint for the kmeans-decoder row")
    args = ap.parse_args()
    from machine import machine_info, machine_line

    machine = machine_info()
    rows = []
    for arch in args.only.split(","):
        flags = {"data": "builtin:photos", "steps": args.steps}
        if arch == "kmeans-decoder":
            if not args.kmeans:
                print("skipping kmeans-decoder: pass --kmeans DIR")
                continue
            flags["tokenizer"] = args.kmeans
        cfg = resolve_config(arch, flags=flags)
        run = Path(args.runs) / arch
        torch.manual_seed(cfg.seed)
        _, untrained = build_model(cfg)
        start = measure(untrained, cfg.image_size)
        if (run / "checkpoints" / "final").is_dir():
            info = json.loads((run / "bench.json").read_text())
        else:  # the done-when command itself, as a child process whose CPU time is counted
            cmd = [sys.executable, "-m", "tokkit_cli", "train", arch, "--data", "builtin:photos", "--out", str(run)]
            cmd += ["--steps", str(args.steps), "--json"] + (["--tokenizer", args.kmeans] if args.kmeans else [])
            if arch != "kmeans-decoder":
                cmd = cmd[: cmd.index("--json") + 1]
            at_start = machine_info()  # this run's load average at its start
            cpu0, t0 = cpu_seconds(), time.time()
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKKIT_NO_PROGRESS": "1"})
            if proc.returncode:
                raise SystemExit(f"{arch}: {proc.stderr.strip()}")
            info = {"cpu_s": cpu_seconds() - cpu0, "wall_s": time.time() - t0, "command": " ".join(cmd[2:])}
            info["machine"] = at_start
            info["result"] = json.loads(proc.stdout)
            (run / "bench.json").write_text(json.dumps(info, indent=1))
        end = measure(load_tokenizer(run / "checkpoints" / "final"), cfg.image_size)
        rows.append((arch, cfg, start, end, info))
        print(arch, start, end, info, flush=True)
    print()
    print(machine_line(info=machine))
    print()
    print("| architecture | image | steps x batch | CPU s (wall s) | PSNR 0 -> end | SSIM 0 -> end | usage end |")
    print("|---|---|---|---|---|---|---|")
    for arch, cfg, s, e, info in rows:
        usage = "-" if e["usage"] is None else f"{e['usage']:.3f}"
        print(
            f"| {arch} | {cfg.image_size} | {cfg.steps} x {cfg.batch_size} "
            f"| {info['cpu_s']:.0f} ({info['wall_s']:.0f}) "
            f"| {s['psnr']:.2f} -> {e['psnr']:.2f} | {s['ssim']:.3f} -> {e['ssim']:.3f} | {usage} |"
        )


if __name__ == "__main__":
    main()

"""Benchmark: `eval recon` throughput and peak memory as the number of images N grows.

Each run is a fresh process (so peak RSS is that run's own): a randomly initialised vqgan-tiny
(the cost of the evaluation machinery, not of a big model) on builtin:photos at 32 px, rFID in
the `pixels` encoder's feature space, real-image cache off so every run does both passes. Peak
RSS should stay flat in N: only running sums are kept. One extra run with the effnet-lite0
feature network gives the throughput of the offline default.

    python benchmarks/eval_recon.py [--sizes 64,256,1024]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def child(ckpt: str, n: int, features: str, size: int) -> None:
    import torch

    from tokkit.data import iter_batches, open_source
    from tokkit.io.checkpoint import load_tokenizer
    from tokkit.metrics.recon import evaluate_recon

    data = f"builtin:photos:n={n},size={size}"
    t = time.perf_counter()
    r = evaluate_recon(ckpt, data, fid_features=features, batch_size=32, use_cache=False)
    dt = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the floor: reading the images and running the tokenizer alone, same batches
    tok = load_tokenizer(ckpt)
    t = time.perf_counter()
    with torch.no_grad():
        for _, x, _ in iter_batches(open_source(data), size, 32):
            tok.decode(tok.encode(x))
    floor = time.perf_counter() - t
    print(
        json.dumps(
            {
                "n": n,
                "features": features,
                "image_size": size,
                "seconds": round(dt, 2),
                "images_per_s": round(n / dt, 1),
                "tokenizer_only_s": round(floor, 2),
                "eval_over_tokenizer_only": round(dt / floor, 2),
                "peak_rss_mb": round(peak_mb, 1),
                "psnr": round(r["psnr"], 3),
                "rfid": round(r["rfid"], 3),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="64,256,1024")
    ap.add_argument("--effnet-n", type=int, default=64)
    ap.add_argument("--child", nargs=4)
    args = ap.parse_args()
    if args.child:
        ckpt, n, features, size = args.child
        child(ckpt, int(n), features, int(size))
        return
    import torch
    from machine import machine_info

    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.tokenizers import create_tokenizer

    print(json.dumps({"machine": machine_info()}), flush=True)
    torch.manual_seed(0)
    env = {**os.environ, "TOKKIT_NO_PROGRESS": "1", "TOKKIT_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = str(save_checkpoint(create_tokenizer("vqgan-tiny"), os.path.join(tmp, "vqgan-tiny")))
        runs = [(n, "pixels", 32) for n in map(int, args.sizes.split(","))] + [(args.effnet_n, "effnet-lite0", 32)]
        for n, features, size in runs:
            out = subprocess.run(
                [sys.executable, __file__, "--child", ckpt, str(n), features, str(size)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()

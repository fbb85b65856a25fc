"""extract benchmarks (issue 3), side by side in one run.

1. Throughput: ``tokkit.encoders.extract.extract_features`` (encoder -> float16 feature store,
   committed batch by batch) against a bare timm loop: the same images through the same
   ``iter_batches``, the same model weights, ``forward_features`` under ``inference_mode``, results
   discarded. Target: >= 0.9x.
2. Memory: peak RSS of extract at two N (each in its own process): must not grow with N.

Default encoder effnet-lite0 (real weights, offline) at 224 px, batch 32.
Usage: python benchmarks/extract_bench.py [--n 256 --batch-size 32 --reps 3] [--mem-n 64,256]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def bare_timm(spec: str, data: str, size: int, batch: int) -> float:
    import timm
    import torch

    from tokkit.data import iter_batches, open_source
    from tokkit.encoders.effnet import TIMM_NAME, package_weights_file, remap_state_dict
    from tokkit.io.checkpoint import torch_load_weights

    t0 = time.perf_counter()
    model = timm.create_model(TIMM_NAME, pretrained=False)
    model.load_state_dict(remap_state_dict(torch_load_weights(package_weights_file()), model), strict=False)
    model.eval()
    with torch.inference_mode():
        for _, images, _ in iter_batches(open_source(data), size, batch):
            model.forward_features(images)
    return time.perf_counter() - t0


def ours(spec: str, data: str, size: int, batch: int, out: str) -> float:
    from tokkit.encoders.extract import extract_features

    t0 = time.perf_counter()
    extract_features(spec, data, out, image_size=size, batch_size=batch, overwrite=True, device="cpu")
    return time.perf_counter() - t0


CHILD = """
import resource, sys
from tokkit.encoders.extract import extract_features
extract_features("effnet-lite0", sys.argv[1], sys.argv[2], batch_size=32, overwrite=True, device="cpu")
# the DataLoader worker is a child process: count the larger of the two
print(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
"""


def peak_mib(data: str, out: str) -> float:
    env = {**os.environ, "TOKKIT_NO_PROGRESS": "1"}
    res = subprocess.run([sys.executable, "-c", CHILD, data, out], capture_output=True, text=True, env=env)
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    return int(res.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mem-n", default="64,256")
    args = ap.parse_args()
    from machine import machine_info

    print(json.dumps({"machine": machine_info()}), flush=True)
    data = f"builtin:photos:n={args.n},size=256"
    from tokkit.data import open_source

    open_source(data).read(0)  # load the photo library once, outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        t_ours, t_bare = [], []
        for _ in range(args.reps):  # alternate so that load from other jobs hits both alike
            t_bare.append(bare_timm("effnet-lite0", data, 224, args.batch_size))
            t_ours.append(ours("effnet-lite0", data, 224, args.batch_size, os.path.join(tmp, "f.h5")))
        speed = {
            "encoder": "effnet-lite0",
            "n_images": args.n,
            "batch_size": args.batch_size,
            "tokkit_images_per_s": args.n / min(t_ours),
            "bare_timm_images_per_s": args.n / min(t_bare),
            "throughput_ratio": min(t_bare) / min(t_ours),
            "times": {"tokkit": t_ours, "bare": t_bare},
        }
        print(json.dumps({"speed": speed}), flush=True)
        mem = []
        for n in [int(v) for v in args.mem_n.split(",")]:
            mib = peak_mib(f"builtin:photos:n={n},size=256", os.path.join(tmp, f"m{n}.h5"))
            mem.append({"n_images": n, "peak_rss_mib": mib})
        print(json.dumps({"memory": mem}), flush=True)


if __name__ == "__main__":
    main()

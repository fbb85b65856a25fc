"""Folder scan at scale (issue 12, item 1): whole commands timed side by side, alternating runs.

1. ``tokkit data info DIR --json`` (header-only scan) against a bare script that decodes every
   JPEG with PIL in the same number of threads. Target: <= 0.2x the bare time.
2. ``tokkit extract --encoder effnet-lite0 --data DIR`` against a bare loop: a torch Dataset
   that decodes with PIL and resizes/crops with torchvision on the PIL image (PIL bicubic: the
   same work as tokkit's eval transform), a DataLoader with the same worker
   count, timm's EfficientNet-Lite0 ``forward_features`` (same weights, fp32, CPU), results
   discarded. Target: throughput >= 0.9x the bare loop's.

Both sides are separate processes (start-up and imports included) so the figure is what a user
waits for. The JPEGs (640x480, crops of the real photographs bundled with scikit-image) are
generated into /tmp, never into the repository.

Usage: python benchmarks/data_scan.py [--n 3000 --extract-n 256 --reps 3 --dir /tmp/tokkit_scan_bench]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_DECODE = r"""
import os, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from PIL import Image

files = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.suffix.lower() == ".jpg")

def decode(p):
    with Image.open(p) as im:
        return im.convert("RGB").size

with ThreadPoolExecutor(min(8, (os.cpu_count() or 1) * 2)) as pool:
    sizes = list(pool.map(decode, files))
print(len(sizes), min(sizes), max(sizes))
"""

BARE_EXTRACT = r"""
import os, sys
from pathlib import Path
import numpy as np
import timm, torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2 as T

from tokkit.encoders.effnet import TIMM_NAME, package_weights_file, remap_state_dict
from tokkit.io.checkpoint import torch_load_weights

files = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.suffix.lower() == ".jpg")
# The same work as tokkit's eval transform: PIL bicubic resize of the shorter side (torchvision's
# Resize on a PIL image calls PIL), center crop, then [-1, 1] floats.
tf = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToImage(),
                T.ToDtype(torch.float32, scale=True), T.Normalize([0.5] * 3, [0.5] * 3)])

class Folder(Dataset):
    def __len__(self):
        return len(files)
    def __getitem__(self, i):
        with Image.open(files[i]) as im:
            return tf(im.convert("RGB"))

model = timm.create_model(TIMM_NAME, pretrained=False)
model.load_state_dict(remap_state_dict(torch_load_weights(package_weights_file()), model), strict=False)
model.eval()
workers = max(0, min(4, (os.cpu_count() or 1) - 1))  # tokkit's default worker count
n = 0
with torch.inference_mode():
    for x in DataLoader(Folder(), batch_size=32, num_workers=workers):
        model.forward_features(x)
        n += len(x)
print(n)
"""


def make_jpegs(root: Path, n: int) -> None:
    """``n`` 640x480 JPEGs in 10 class folders: crops of the bundled photographs, varied per file."""
    done = root / f".done-{n}"
    if done.exists():
        return
    import numpy as np
    from PIL import Image

    from tokkit.data.builtin import photo_library  # the real photographs of builtin:photos

    photos = [a for _, a in photo_library() if min(a.shape[:2]) >= 200]
    rng = np.random.default_rng(0)
    for i in range(n):
        img = Image.fromarray(photos[i % len(photos)])
        w, h = img.size
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = img.crop((x0, y0, x0 + cw, y0 + ch)).resize((640, 480), Image.BICUBIC)
        path = root / f"class{i % 10:02d}" / f"img{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        crop.save(path, quality=90)
    done.write_text("")


def timed(cmd: list[str]) -> float:
    env = {**os.environ, "TOKKIT_NO_PROGRESS": "1"}
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    secs = time.perf_counter() - t0
    if res.returncode:
        raise RuntimeError(f"{cmd[:4]} failed: {res.stderr[-2000:]}")
    return secs


def side_by_side(ours: list[str], bare: list[str], reps: int) -> dict:
    t_ours, t_bare = [], []
    for _ in range(reps):  # alternate so that load from other jobs hits both alike
        t_bare.append(timed(bare))
        t_ours.append(timed(ours))
    return {
        "tokkit_s": t_ours,
        "bare_s": t_bare,
        "median_tokkit_s": statistics.median(t_ours),
        "median_bare_s": statistics.median(t_bare),
        # pair by pair (each tokkit run against the bare run just before it), then the median:
        # the pairing keeps the machine's drift under load out of the ratio
        "ratio_time": statistics.median(a / b for a, b in zip(t_ours, t_bare, strict=True)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--extract-n", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/tokkit_scan_bench")
    ap.add_argument("--skip-extract", action="store_true")
    ap.add_argument("--skip-info", action="store_true")
    args = ap.parse_args()
    from machine import machine_info

    print(json.dumps({"machine": machine_info()}), flush=True)  # the load average at the start
    py = sys.executable
    root = Path(args.dir)
    make_jpegs(root / "scan", args.n)
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_decode.py"
        bare.write_text(BARE_DECODE)
        if not args.skip_info:
            info = side_by_side([py, "-m", "tokkit_cli", "data", "info", str(root / "scan"), "--json"],
                                [py, str(bare), str(root / "scan")], args.reps)  # fmt: skip
            print(json.dumps({"data_info": {"n_images": args.n, **info}}), flush=True)
        if args.skip_extract:
            return
        make_jpegs(root / "extract", args.extract_n)
        bare = Path(tmp) / "bare_extract.py"
        bare.write_text(BARE_EXTRACT)
        out = str(Path(tmp) / "f.h5")
        ours = [py, "-m", "tokkit_cli", "extract", "--encoder", "effnet-lite0", "--data", str(root / "extract"),
                "--out", out, "--overwrite", "--device", "cpu", "--json"]  # fmt: skip
        ext = side_by_side(ours, [py, str(bare), str(root / "extract")], args.reps)
        ext["throughput_ratio"] = 1.0 / ext["ratio_time"]
        print(json.dumps({"extract": {"n_images": args.extract_n, **ext}}), flush=True)


if __name__ == "__main__":
    main()

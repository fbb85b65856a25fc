"""Benchmark (issue 19 part 7): ``eval recon`` over a folder of JPEGs vs a bare loop, and 2 torchrun processes vs 1.

The script makes the folder: ``--files`` JPEGs of 640 x 480 (random crops, flips and colour shifts of
scikit-image's photographs, quality 90). Then, alternating, ``--repeats`` times:

- tokkit: ``tokkit eval recon`` in a fresh process (effnet-lite0 features, the real pretrained weights from
  the package; LPIPS off: no AlexNet weights offline; real-image cache off: both feature passes every run);
- bare: the same work hand-written in a fresh process: a DataLoader with the same workers, PIL decode, the
  same crop (tokkit's ``eval_transform``), the same tokenizer encode + decode, uint8 rounding and the same
  feature forward on the real and the reconstructed images, PSNR per image: the floor any tool pays;
- 2 processes: the same ``eval recon`` under ``torchrun --nproc_per_node 2`` (each rank one thread).

Same images, same batches, same tokenizer (random-weight vqgan-tiny saved once), same threads per process.

    python benchmarks/eval_scale.py [--files 5000] [--num-images 1000] [--size 256] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make_folder(root: Path, files: int, seed: int = 0) -> None:
    import numpy as np
    from PIL import Image
    from skimage import data as skd

    photos = [skd.astronaut(), skd.coffee(), skd.chelsea(), skd.rocket(), skd.immunohistochemistry()]
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        img = Image.fromarray(photos[i % len(photos)]).resize((960, 720), Image.BICUBIC)
        x0, y0 = int(rng.integers(0, 320)), int(rng.integers(0, 240))
        a = np.asarray(img.crop((x0, y0, x0 + 640, y0 + 480)), np.float32)
        a = a * rng.uniform(0.8, 1.2, 3) + rng.uniform(-20, 20, 3)
        if rng.random() < 0.5:
            a = a[:, ::-1]
        Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(root / f"img_{i:05d}.jpg", quality=90)


def bare(folder: str, ckpt: str, n: int, size: int, batch: int, workers: int) -> None:
    """The hand-written loop (runs in its own process)."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    from tokkit.data.decode import read_image
    from tokkit.data.transforms import eval_transform
    from tokkit.io.checkpoint import load_tokenizer
    from tokkit.metrics.fid import create_fid_features

    files = sorted(Path(folder).glob("*.jpg"))[:n]

    class Files(Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, i):
            return eval_transform(read_image(files[i]), size, "center")

    tok, feats = load_tokenizer(ckpt), create_fid_features("effnet-lite0", None, "cpu")
    t = time.perf_counter()
    real, fake, psnrs = [], [], []
    with torch.no_grad():
        for x in DataLoader(Files(), batch_size=batch, num_workers=workers):
            recon = ((tok.decode(tok.encode(x)).clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1
            real.append(feats(x))
            fake.append(feats(recon))
            mse = ((x + 1) / 2 - (recon + 1) / 2).pow(2).flatten(1).mean(1)
            psnrs.append(10 * torch.log10(1 / mse))
    print(json.dumps({"seconds": time.perf_counter() - t, "n": len(torch.cat(psnrs))}))


def tokkit_run(folder: Path, ckpt: Path, n: int, size: int, batch: int, nproc: int, env: dict) -> float:
    launch = [sys.executable, "-m", "tokkit"]
    if nproc > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
                  "-m", "tokkit"]  # fmt: skip
    args = ["eval", "recon", "-t", str(ckpt), "-d", str(folder), "-n", str(n), "--image-size", str(size),
            "--batch-size", str(batch), "--fid-features", "effnet-lite0", "--no-cache", "--json"]  # fmt: skip
    t = time.perf_counter()
    proc = subprocess.run([*launch, *args], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    r = json.loads(proc.stdout)
    assert r["protocol"]["num_images"] == n, r["protocol"]["num_images"]
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--num-images", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--bare", nargs=6, help=argparse.SUPPRESS)  # the child process
    a = ap.parse_args()
    if a.bare:
        folder, ckpt, n, size, batch, workers = a.bare
        return bare(folder, ckpt, int(n), int(size), int(batch), int(workers))

    sys.path.insert(0, str(HERE))
    import torch
    from machine import machine_info

    from tokkit.data.dataset import default_workers
    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.tokenizers import create_tokenizer

    start = machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="tokkit-eval-scale-"))
    t = time.perf_counter()
    make_folder(tmp / "jpegs", a.files)
    made = time.perf_counter() - t
    torch.manual_seed(0)
    ckpt = save_checkpoint(create_tokenizer("vqgan-tiny"), tmp / "vq")
    workers = default_workers(a.num_images)
    env = {**os.environ, "TOKKIT_NO_PROGRESS": "1", "TOKKIT_OFFLINE": "1", "TOKKIT_CACHE_DIR": str(tmp / "cache")}
    runs: dict[str, list[float]] = {"tokkit": [], "bare": [], "tokkit_2proc": []}
    for _ in range(a.repeats):  # alternated: drift in the machine's load hits every variant alike
        runs["tokkit"].append(tokkit_run(tmp / "jpegs", ckpt, a.num_images, a.size, a.batch, 1, env))
        t = time.perf_counter()  # whole processes on both sides: start-up and model loading included alike
        out = subprocess.run([sys.executable, __file__, "--bare", str(tmp / "jpegs"), str(ckpt), str(a.num_images),
                              str(a.size), str(a.batch), str(workers)], env=env, capture_output=True, text=True,
                             check=True)  # fmt: skip
        runs["bare"].append(time.perf_counter() - t)
        assert json.loads(out.stdout)["n"] == a.num_images
        runs["tokkit_2proc"].append(tokkit_run(tmp / "jpegs", ckpt, a.num_images, a.size, a.batch, 2, env))
    med = {k: sorted(v)[len(v) // 2] for k, v in runs.items()}
    result = {"files": a.files, "folder_seconds": round(made, 1), "num_images": a.num_images, "size": a.size,
              "batch": a.batch, "workers": workers, "runs": runs,
              "tokkit_vs_bare": round(med["bare"] / med["tokkit"], 3),
              "two_procs_vs_one": round(med["tokkit"] / med["tokkit_2proc"], 3),
              "machine_start": start, "machine_end": machine_info()}  # fmt: skip
    (HERE / "eval_scale.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("machine")}, indent=1))


if __name__ == "__main__":
    main()

"""GPU benchmarks (issue 12), for a machine with a CUDA GPU. Results go to benchmarks/gpu.md.

1. k-means, K=16384 over 1.6M x 128 points (20 iterations, random init, all points, no early
   stop), the whole command ``tokkit fit-kmeans --features F.h5 --gpu`` with faiss-gpu and with
   ``--backend torch`` against a bare ``faiss.Kmeans(..., gpu=True)`` script reading the same
   file; each a subprocess (imports, HDF5 read, training), alternating, median of ``--reps``.
2. extract, a ViT-B/16 (timm ``vit_base_patch16_224``, random init: the speed does not depend on
   the weights) under bfloat16 autocast, ``tokkit extract --precision bf16`` against a bare timm
   loop fed by the same ``iter_batches`` (``forward_features`` under autocast, features copied to
   the host), median of ``--reps``.

3. rFID at ImageNet scale (issue 19 part 7): ``tokkit eval recon`` over 50,000 images at 256 px
   (``builtin:photos:n=50000,size=256`` packed once into an HDF5 store, outside the timing) with an
   SD-VAE-sized KL-VAE (tokkit ``vae``: ch 128, ch_mult (1, 2, 4, 4), 2 res blocks, 4 latent channels,
   no mid-level attention but the middle block's, random weights: speed does not depend on them),
   effnet-lite0 features (Inception's weights cannot be fetched offline), LPIPS off, real-image cache
   off; wall seconds of the whole command. Target: under 5 minutes on an H200.

Ratios: bare wall / tokkit wall (>= 1 means tokkit is as fast). Printed as JSON lines and written
to ``--out`` (default benchmarks/gpu.json). On a machine without a CUDA GPU it exits with one line.
Usage: python benchmarks/gpu.py [--n 1600000 --d 128 --k 16384 --images 2048 --reps 3]
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

BARE_FAISS_GPU = """
import sys, h5py, numpy as np, faiss
path, k, niter = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with h5py.File(path, "r") as f:
    x = np.ascontiguousarray(f["features"][:].reshape(-1, f["features"].shape[-1]), dtype=np.float32)
n = x.shape[0]
km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=1234, gpu=True, max_points_per_centroid=n, early_stop_threshold=-1)
km.train(x)
print(len(km.iteration_stats), km.obj[-1] / n)
"""

BARE_TIMM = """
import sys, time, timm, torch
from tokkit.data import iter_batches, open_source
data, size, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = timm.create_model("vit_base_patch16_224", pretrained=False, img_size=size).cuda().eval()
with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
    for _, images, _ in iter_batches(open_source(data), size, batch):
        model.forward_features(images.cuda(non_blocking=True)).float().cpu()
"""


def gpu_or_exit() -> None:
    try:
        import torch
    except ImportError:
        sys.exit("benchmarks/gpu.py needs torch with CUDA; torch is not installed")
    if not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py needs a CUDA GPU and none is visible: nothing measured")


def run(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKKIT_NO_PROGRESS": "1"})
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:5])} failed: {res.stderr[-2000:]}")
    return time.perf_counter() - t0, res.stdout


def alternate(cmds: dict[str, list[str]], reps: int) -> dict[str, dict]:
    times: dict[str, list[float]] = {name: [] for name in cmds}
    outs: dict[str, str] = {}
    for _ in range(reps):  # alternate, so that anything else on the machine hits all alike
        for name, cmd in cmds.items():
            s, outs[name] = run(cmd)
            times[name].append(s)
    return {
        name: {"median_s": statistics.median(t), "times": t, "stdout": outs[name][-500:]} for name, t in times.items()
    }


def kmeans_case(tmp: str, n: int, d: int, k: int, niter: int, reps: int) -> dict:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from kmeans_bench import make_store

    from tokkit.clustering.kmeans import faiss_gpus

    store = os.path.join(tmp, "km.h5")
    make_store(store, n, d, k)
    base = [sys.executable, "-m", "tokkit_cli", "fit-kmeans", "--features", store, "--k", str(k), "--gpu"]
    base += ["--niter", str(niter), "--tol", "0", "--init", "random", "--sample", str(n), "--json"]
    cmds = {"tokkit_torch": [*base, "--backend", "torch", "--out", os.path.join(tmp, "km_torch")]}
    if faiss_gpus() > 0:
        cmds["tokkit_faiss_gpu"] = [*base, "--out", os.path.join(tmp, "km_faiss")]
        cmds["bare_faiss_gpu"] = [sys.executable, "-c", BARE_FAISS_GPU, store, str(k), str(niter)]
    res = alternate(cmds, reps)
    out: dict = {"n": n, "d": d, "k": k, "niter": niter, "runs": res}
    if "bare_faiss_gpu" in res:
        bare = res["bare_faiss_gpu"]["median_s"]
        out["ratio_faiss_gpu"] = bare / res["tokkit_faiss_gpu"]["median_s"]
        out["ratio_torch"] = bare / res["tokkit_torch"]["median_s"]
    else:
        out["note"] = "faiss sees no GPU (faiss-gpu not installed): only the torch backend was timed"
    return out


def extract_case(tmp: str, images: int, batch: int, reps: int) -> dict:
    data = f"builtin:photos:n={images},size=256"
    from tokkit.data import open_source

    open_source(data).read(0)  # build the photo library once, outside the timings
    out = os.path.join(tmp, "f.h5")
    ours = [sys.executable, "-m", "tokkit_cli", "extract", "--encoder", "timm:vit_base_patch16_224", "--random-init"]
    ours += ["--image-size", "224", "--data", data, "--batch-size", str(batch), "--precision", "bf16"]
    ours += ["--out", out, "--overwrite", "--json"]
    bare = [sys.executable, "-c", BARE_TIMM, data, "224", str(batch)]
    res = alternate({"bare_timm": bare, "tokkit_extract": ours}, reps)
    return {
        "images": images,
        "batch_size": batch,
        "runs": res,
        "ratio": res["bare_timm"]["median_s"] / res["tokkit_extract"]["median_s"],
    }


def rfid_case(tmp: str, images: int, batch: int) -> dict:
    """The whole ``eval recon`` command over ``images`` packed images with an SD-VAE-sized tokenizer."""
    import torch

    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.tokenizers import create_tokenizer

    torch.manual_seed(0)
    tok = create_tokenizer("vae", ch=128, ch_mult=(1, 2, 4, 4), num_res_blocks=2, z_channels=4, latent_channels=4,
                           attn_levels=(), mid_attn=True)  # fmt: skip
    ckpt = save_checkpoint(tok, os.path.join(tmp, "sd-vae-sized"))
    store = os.path.join(tmp, f"photos{images}.h5")
    pack = [sys.executable, "-m", "tokkit", "data", "pack", f"builtin:photos:n={images},size=256", "--image-size",
            "256", "--out", store]  # fmt: skip
    subprocess.run(pack, check=True, capture_output=True)
    cmd = [sys.executable, "-m", "tokkit", "eval", "recon", "-t", str(ckpt), "-d", store, "--image-size", "256",
           "--batch-size", str(batch), "--fid-features", "effnet-lite0", "--no-cache", "--device", "cuda",
           "--json"]  # fmt: skip
    seconds, out = run(cmd)
    r = json.loads(out)
    params = sum(p.numel() for p in tok.parameters())
    return {"images": images, "batch_size": batch, "seconds": seconds, "images_per_s": images / seconds,
            "params": params, "num_images": r["protocol"]["num_images"], "psnr": r["psnr"], "rfid": r["rfid"],
            "target_s": 300}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_600_000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--k", type=int, default=16384)
    ap.add_argument("--niter", type=int, default=20)
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rfid-images", type=int, default=50_000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu.json"))
    args = ap.parse_args()
    gpu_or_exit()
    import torch
    from machine import machine_info, machine_line

    machine = machine_info()
    results: dict = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "machine": machine}
    results["machine_line"] = machine_line(info=machine)  # for the table in benchmarks/gpu.md
    with tempfile.TemporaryDirectory() as tmp:
        results["kmeans"] = kmeans_case(tmp, args.n, args.d, args.k, args.niter, args.reps)
        print(json.dumps({"kmeans": results["kmeans"]}), flush=True)
        results["extract"] = extract_case(tmp, args.images, args.batch_size, args.reps)
        print(json.dumps({"extract": results["extract"]}), flush=True)
        results["rfid"] = rfid_case(tmp, args.rfid_images, 64)
        print(json.dumps({"rfid": results["rfid"]}), flush=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

"""What does ``eval latent`` cost beside a bare encode + decode pass over the same images?

The issue's target: on 256 images at 256 px with an SD-VAE-sized model, ``evaluate_latent`` costs no more
than 1.2x a loop that encodes and decodes every image (same batch size). Both are run alternately,
``--repeats`` times each, and the medians are compared; the result goes to ``--out``
(``benchmarks/latent.json``).

Design note: eval latent decodes only the held-out images (every 5th: rFID, the four equivariance
transforms, the slerp midpoints), so its decoder work is about 1/5 x (1 + ~2.8 + 1) of a full decode pass;
the rest is the encode pass, the DCT sums and the feature network on 3 x N/5 images.

    python benchmarks/latent.py --tokenizer CKPT -n 256 --image-size 256 --out benchmarks/latent.json
    python benchmarks/latent.py --tokenizer vae-tiny --data builtin:shapes -n 16 --image-size 64 --repeats 1  # smoke
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def _tokenizer(spec: str, device: str):
    """A checkpoint directory, else a registered architecture with fresh weights (for smoke runs)."""
    from tokkit.metrics import _common as C

    if Path(spec).exists():
        return C.resolve_tokenizer(spec, C.torch.device(device))
    from tokkit.tokenizers import create_tokenizer

    return create_tokenizer(spec).to(device).eval()


def _bare(tok, data, n: int, size: int, batch: int, device: str) -> None:
    import torch

    from tokkit.data.dataset import iter_batches
    from tokkit.metrics import _common as C

    with torch.no_grad():
        for _, x, _ in iter_batches(C.resolve_source(data), size, batch, 0, n):
            tok.decode(tok.encode(x.to(device)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default="vae-tiny")
    ap.add_argument("--data", default="builtin:photos")
    ap.add_argument("-n", "--num-images", type=int, default=256)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--fid-features", default="effnet-lite0")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()

    from tokkit.metrics.fid import create_fid_features
    from tokkit.metrics.latent import evaluate_latent

    tok = _tokenizer(a.tokenizer, a.device)
    feats = create_fid_features(a.fid_features, None, a.device)  # built once, outside the timed runs
    times: dict[str, list[float]] = {"bare": [], "latent": []}
    for _ in range(a.repeats):  # alternate, so that drift on a shared machine hits both
        t0 = time.perf_counter()
        _bare(tok, a.data, a.num_images, a.image_size, a.batch_size, a.device)
        times["bare"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        evaluate_latent(tok, a.data, num_images=a.num_images, image_size=a.image_size, batch_size=a.batch_size,
                        fid_features=feats, device=a.device)  # fmt: skip
        times["latent"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "tokenizer": a.tokenizer,
        "data": a.data,
        "num_images": a.num_images,
        "image_size": a.image_size,
        "batch_size": a.batch_size,
        "device": a.device,
        "fid_features": a.fid_features,
        "repeats": a.repeats,
        "seconds": times,
        "median_s": med,
        "ratio": med["latent"] / med["bare"],
        "target_ratio": 1.2,
    }
    text = json.dumps(result, indent=2)
    if a.out:
        a.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

"""Benchmark: imported IBQ / Open-MAGVIT2 (ibq, open-magvit2) vs SEED-Voken's own models, encode + decode.

Published configurations with random weights: IBQ ``configs/IBQ/gpu/imagenet_ibqgan_16384.yaml`` and
Open-MAGVIT2 ``configs/Open-MAGVIT2/gpu/imagenet_lfqgan_256_L.yaml``, built by the upstream classes of
TencentARC/SEED-Voken at b9a17ea (a checkout given by SEED_VOKEN; needs ``einops``; lightning and the
loss are stand-ins, as in tests/fixtures/import/make_fixtures_seed.py). Each model is saved as a
lightning ``.ckpt`` (raw + EMA tensors) beside its yaml, imported with ``import_checkpoint`` and loaded
back, so tokkit runs what ``tokkit import`` writes. The reference runs ``encode`` then ``decode(quant)``
with its EMA weights copied in once (``reconstruct_image.py`` does it in ``ema_scope()`` per batch);
tokkit ``decode(encode(x))``. One process, same
images, the two implementations alternating, median of the repeats; the last outputs are compared.

    SEED_VOKEN=/path/to/SEED-Voken PYTHONPATH=EINOPS_DIR python benchmarks/import_seed.py [--batch 8] [--size 256]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from side_by_side import alternate, build_tokkit, images, ratios

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONFIGS = {
    "ibq": ("configs/IBQ/gpu/imagenet_ibqgan_16384.yaml", "imagenet256_16384.ckpt"),
    "open-magvit2": ("configs/Open-MAGVIT2/gpu/imagenet_lfqgan_256_L.yaml", "imagenet_256_L.ckpt"),
}


def build_reference(family: str, repo: Path, tmp: Path):
    """The upstream model (EMA weights = raw + noise), and its .ckpt saved beside the published yaml."""
    sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "import"))
    import make_fixtures_seed as seed

    seed.stand_ins()
    sys.path.insert(0, str(repo))
    rel, name = CONFIGS[family]
    args = {**seed.published(repo, rel), "lossconfig": {}}
    if family == "ibq":
        from src.IBQ.models.ibqgan import IBQ as Model
    else:
        from src.Open_MAGVIT2.models.lfqgan import VQModel as Model
    torch.manual_seed(0)
    ref = Model(**args).eval()
    seed.perturb_ema(ref, 1)
    torch.save(seed.lightning_ckpt(ref), tmp / name)
    shutil.copy(repo / rel, (tmp / name).with_suffix(".yaml"))

    # the EMA weights once, not per batch: ``ema_scope()`` clones and copies every parameter on each
    # entry (the evaluation path pays that per batch), which is not the network's speed
    ref.model_ema.copy_to(ref)
    return ref, tmp / name, lambda x: ref.decode(ref.encode(x)[0])


def measure(family: str, repo: Path, x: torch.Tensor, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ref, src, ref_fn = build_reference(family, repo, tmp)
        tok, tok_fn = build_tokkit(family, src, tmp)
        times, cpu, outs = alternate({"reference": ref_fn, "tokkit": tok_fn}, x, repeats, family)
        diff = float((outs["reference"] - outs["tokkit"]).abs().max())
        del ref, tok, outs
    return {
        "family": family,
        "batch": int(x.shape[0]),
        "size": int(x.shape[-1]),
        "max_abs_diff": diff,
        **ratios(times, cpu, int(x.shape[0])),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", default="ibq,open-magvit2")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from machine import machine_info

    repo = Path(os.environ["SEED_VOKEN"]).resolve()
    print(json.dumps({"machine": machine_info()}), flush=True)
    x = images(args.batch, args.size)
    for family in args.families.split(","):
        print(json.dumps(measure(family, repo, x, args.repeats)), flush=True)


if __name__ == "__main__":
    main()

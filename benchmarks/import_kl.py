"""Benchmark: imported KL-VAEs (mar-kl16, diffusers-vae) vs their reference code, encode + decode.

Published configs with random weights: MAR's AutoencoderKL(embed_dim=16, ch_mult=(1,1,2,2,4)) from
LTH14/mar models/vae.py (imported at run time from MAR_REPO, a checkout or bare git dir, read at
fe470ac), and diffusers' AutoencoderKL with sd-vae-ft-ema's config. Each reference model is saved in
its published layout, imported with ``tokkit.importers.import_checkpoint`` and loaded back, so tokkit
runs exactly what ``tokkit import`` produces. One process, same images (batch 8 at 256 px), both
implementations alternating, median of the repeats; the outputs of the last repeat are compared. Peak memory:
each implementation's encode+decode in a fresh subprocess (the reference built at random, tokkit loaded
from the imported checkpoint): ru_maxrss after the pass, and its growth over the built model.

    MAR_REPO=/path/to/mar python benchmarks/import_kl.py [--batch 8] [--size 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from side_by_side import alternate, build_tokkit, images, ratios

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_reference(family: str, tmp: Path):
    """The reference model and the file it is saved to in its published layout."""
    torch.manual_seed(0)
    if family == "mar-kl16":
        sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "import"))
        from make_fixtures_kl import load_mar_vae

        ref = load_mar_vae(Path(os.environ["MAR_REPO"])).AutoencoderKL(embed_dim=16, ch_mult=(1, 1, 2, 2, 4)).eval()
        torch.save({"model": ref.state_dict()}, tmp / "kl16.ckpt")
        return ref, tmp / "kl16.ckpt", lambda x: ref.decode(ref.encode(x).mode())
    from diffusers import AutoencoderKL

    from tokkit.importers.diffusers_vae import DEFAULTS, PUBLISHED

    ref = AutoencoderKL(**PUBLISHED["sd-vae-ft-ema"]).eval()
    assert set(PUBLISHED["sd-vae-ft-ema"]) <= set(DEFAULTS)
    ref.save_pretrained(tmp / "vae")
    return ref, tmp / "vae", lambda x: ref.decode(ref.encode(x).latent_dist.mode()).sample


def peak(family: str, impl: str, batch: int, size: int, ckpt: str | None) -> None:
    """Subprocess mode: build one implementation, run one pass, print the peak RSS and its growth
    during the pass (MiB). tokkit loads the checkpoint ``ckpt`` the parent imported."""
    with tempfile.TemporaryDirectory() as d:
        if impl == "tokkit" and ckpt:
            from tokkit.io.checkpoint import load_tokenizer

            tok = load_tokenizer(ckpt)
            fn = lambda x: tok.decode(tok.encode(x))  # noqa: E731
        else:
            ref, src, fn = build_reference(family, Path(d))
            if impl == "tokkit":
                _, fn = build_tokkit(family, src, Path(d))
                del ref
        x = images(batch, size)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with torch.no_grad():
            fn(x)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mib": after / 1024, "pass_mib": (after - before) / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", default="mar-kl16,diffusers-vae")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peak", nargs=2, metavar=("FAMILY", "IMPL"), help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--no-peak-memory", dest="peak_memory", action="store_false", help="skip the memory subprocesses")
    args = ap.parse_args()
    if args.peak:
        return peak(*args.peak, args.batch, args.size, args.ckpt)
    from machine import machine_info

    print(json.dumps({"machine": machine_info()}), flush=True)
    x = images(args.batch, args.size)
    rows = []
    for family in args.families.split(","):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            ref, src, ref_fn = build_reference(family, tmp)
            tok, tok_fn = build_tokkit(family, src, tmp)
            times, cpu, outs = alternate({"reference": ref_fn, "tokkit": tok_fn}, x, args.repeats, family)
            diff = float((outs["reference"] - outs["tokkit"]).abs().max())  # same weights, same images
            del ref, tok, outs
            mem = {}
            for impl in ("reference", "tokkit") if args.peak_memory else ():
                cmd = [sys.executable, __file__, "--peak", family, impl, "--batch", str(args.batch),
                       "--size", str(args.size), "--ckpt", str(tmp / "tokkit")]  # fmt: skip
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                mem[impl] = json.loads(out.stdout.strip().splitlines()[-1])
        row = {"family": family, "max_abs_diff": diff, **ratios(times, cpu, args.batch), "memory_mib": mem}
        rows.append(row)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

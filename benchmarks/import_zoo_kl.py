"""Benchmark: imported va-vae and dc-ae vs their reference code, encode + decode (issue 20).

Published configs with random weights:
- va-vae: LightningDiT's ``AutoencoderKL(embed_dim=32, ch_mult=(1, 1, 2, 2, 4), model_type='vavae')`` (69.84M
  parameters; hustvl/LightningDiT tokenizer/autoencoder.py at 2725fed, imported at run time from
  LIGHTNINGDIT_REPO, a checkout or bare git dir), saved in the published layout with a latents_stats.pt; the
  reference pass is ``decode(encode(x).mode())``;
- dc-ae: diffusers 0.42.1 ``AutoencoderDC`` with dc-ae-f32c32-sana-1.0's config (312.25M), saved with
  save_pretrained; ``dc-ae-in`` the dc-ae-f32c32-in-1.0 config (323.36M); ``decode(encode(x).latent)``.
Each is imported with ``import_checkpoint`` and loaded back, so tokkit runs what ``tokkit import`` writes. One
process, same images, the two implementations alternating, median of the repeats; the outputs of the last repeat
are compared. Prints one JSON line per family.

    LIGHTNINGDIT_REPO=/path/to/LightningDiT python benchmarks/import_zoo_kl.py [--batch 8] [--size 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_reference(family: str, tmp: Path):
    """(reference model, the source ``tokkit import`` reads, reference encode+decode)."""
    torch.manual_seed(0)
    if family == "va-vae":
        sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "import"))
        from make_fixtures_vavae import load_upstream

        ae = load_upstream(Path(os.environ["LIGHTNINGDIT_REPO"]))
        ref = ae.AutoencoderKL(embed_dim=32, ch_mult=(1, 1, 2, 2, 4), model_type="vavae").eval()
        torch.save({"state_dict": {**ref.state_dict(), "linear_proj.weight": torch.zeros(1)}}, tmp / "vavae.pt")
        g = torch.Generator().manual_seed(1)
        stats = {"mean": torch.randn(1, 32, 1, 1, generator=g), "std": torch.rand(1, 32, 1, 1, generator=g) + 0.5}
        torch.save(stats, tmp / "latents_stats.pt")
        return ref, tmp / "vavae.pt", lambda x: ref.decode(ref.encode(x).mode())
    from diffusers import AutoencoderDC

    from tokkit.importers.dcae import PUBLISHED

    ref = AutoencoderDC(**PUBLISHED["dc-ae-f32c32-sana-1.0" if family == "dc-ae" else "dc-ae-f32c32-in-1.0"]).eval()
    ref.save_pretrained(tmp / "vae")
    return ref, tmp / "vae", lambda x: ref.decode(ref.encode(x).latent).sample


def build_tokkit(family: str, src: Path, tmp: Path):
    from tokkit.importers import import_checkpoint
    from tokkit.io.checkpoint import load_tokenizer

    import_checkpoint("dc-ae" if family.startswith("dc-ae") else family, src, tmp / "tokkit")
    tok = load_tokenizer(tmp / "tokkit")
    return tok, lambda x: tok.decode(tok.encode(x))


def run(family: str, x: torch.Tensor, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ref, src, ref_fn = build_reference(family, tmp)
        tok, tok_fn = build_tokkit(family, src, tmp)
        times: dict[str, list[float]] = {"reference": [], "tokkit": []}
        cpu: dict[str, list[float]] = {"reference": [], "tokkit": []}
        outs = {}
        with torch.no_grad():
            for _ in range(repeats):
                for name, fn in (("reference", ref_fn), ("tokkit", tok_fn)):
                    t0, c0 = time.perf_counter(), time.process_time()
                    outs[name] = fn(x)
                    times[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.process_time() - c0)  # steadier than wall time on a loaded machine
                    print(f"{family} {name}: {times[name][-1]:.1f} s wall, {cpu[name][-1]:.1f} s cpu",
                          file=sys.stderr, flush=True)  # fmt: skip
        diff = float((outs["reference"] - outs["tokkit"]).abs().max())
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "family": family,
        "batch": x.shape[0],
        "size": x.shape[-1],
        "max_abs_diff": diff,
        "seconds": times,
        "median_s": med,
        "images_per_s": {k: x.shape[0] / v for k, v in med.items()},
        "speed_ratio_tokkit_over_reference": med["reference"] / med["tokkit"],
        "pairwise_ratio_median": statistics.median(
            r / t for r, t in zip(times["reference"], times["tokkit"], strict=True)
        ),
        "cpu_s": cpu,
        "cpu_ratio_tokkit_over_reference": statistics.median(cpu["reference"]) / statistics.median(cpu["tokkit"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", default="va-vae,dc-ae")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from machine import machine_info

    print(json.dumps({"machine": machine_info()}), flush=True)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(5)) * 2 - 1
    for family in args.families.split(","):
        print(json.dumps(run(family, x, args.repeats)), flush=True)


if __name__ == "__main__":
    main()

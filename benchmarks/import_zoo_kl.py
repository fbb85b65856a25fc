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
import sys
import tempfile
from pathlib import Path

import torch
from side_by_side import alternate, build_tokkit, images, ratios

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


def run(family: str, x: torch.Tensor, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ref, src, ref_fn = build_reference(family, tmp)
        tok, tok_fn = build_tokkit("dc-ae" if family.startswith("dc-ae") else family, src, tmp)
        times, cpu, outs = alternate({"reference": ref_fn, "tokkit": tok_fn}, x, repeats, family)
        diff = float((outs["reference"] - outs["tokkit"]).abs().max())
    return {"family": family, "batch": x.shape[0], "size": x.shape[-1], "max_abs_diff": diff,
            **ratios(times, cpu, x.shape[0])}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", default="va-vae,dc-ae")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from machine import machine_info

    print(json.dumps({"machine": machine_info()}), flush=True)
    x = images(args.batch, args.size)
    for family in args.families.split(","):
        print(json.dumps(run(family, x, args.repeats)), flush=True)


if __name__ == "__main__":
    main()

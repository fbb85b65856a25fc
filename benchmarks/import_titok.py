"""Benchmark: an imported TiTok vs TiTok's own code (bytedance/1d-tokenizer 942a96f), encode + decode.

A published configuration (default TiTok-S128: ViT-S/16 in and out, 128 tokens, 4096 x 12 cosine codes,
legacy MaskGIT-VQGAN pixel decoder; 83.67M parameters) with upstream's random init, saved by upstream's
``save_pretrained`` (the hub layout), imported with ``tokkit.importers.import_checkpoint`` and loaded
back, so tokkit runs what ``tokkit import titok`` writes. One process, the same images (batch 8, 256 px),
both implementations alternating, median of the repeats; upstream's path is
``decode_tokens(encode(x)[1]["min_encoding_indices"]).clamp(0, 1)`` on [0, 1] images, tokkit's
``decode(encode(x))`` on [-1, 1]; the outputs of the last repeat are compared (in [0, 1] units).

    TITOK_REPO=/path/to/1d-tokenizer PYTHONPATH=.:<einops+omegaconf> python benchmarks/import_titok.py \\
        [--config s128|b64|l32] [--batch 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from side_by_side import alternate, ratios

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "import"))


def build(config: str, tmp: Path):
    """(upstream model, its pass, tokkit tokenizer, its pass)."""
    import yaml
    from make_fixtures_titok import checkout, import_upstream

    from tokkit.importers import import_checkpoint
    from tokkit.io.checkpoint import load_tokenizer

    root = checkout(Path(os.environ["TITOK_REPO"]))
    titok, _ = import_upstream(root)
    cfg = yaml.safe_load((root / f"configs/infer/TiTok/titok_{config}.yaml").read_text())
    torch.manual_seed(0)
    ref = titok.TiTok(cfg).eval()
    ref.save_pretrained(str(tmp / "hub"))
    import_checkpoint("titok", tmp / "hub", tmp / "tokkit")
    tok = load_tokenizer(tmp / "tokkit").eval()

    def ref_fn(x):
        _, r = ref.encode((x + 1) / 2)
        return ref.decode_tokens(r["min_encoding_indices"]).clamp(0, 1)

    def tok_fn(x):
        return (tok.decode(tok.encode(x)) + 1) / 2

    return ref, ref_fn, tok, tok_fn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="s128", choices=("s128", "b64", "l32"))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from machine import machine_info

    print(json.dumps({"machine": machine_info()}), flush=True)
    x = torch.rand(args.batch, 3, 256, 256, generator=torch.Generator().manual_seed(5)) * 2 - 1
    with tempfile.TemporaryDirectory() as d:
        ref, ref_fn, tok, tok_fn = build(args.config, Path(d))
        fns = {"reference": ref_fn, "tokkit": tok_fn}
        times, cpu, outs = alternate(fns, x, args.repeats, f"titok-{args.config}")
        with torch.no_grad():
            _, r = ref.encode((x + 1) / 2)
            agree = float((tok.encode(x).indices == r["min_encoding_indices"]).float().mean())
    row = {
        "config": f"titok-{args.config}",
        "parameters": sum(p.numel() for p in tok.parameters()),
        "batch": args.batch,
        "index_agreement": agree,
        "max_abs_diff": float((outs["reference"] - outs["tokkit"]).abs().max()),
        **ratios(times, cpu, args.batch),
    }
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

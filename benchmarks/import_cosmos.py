"""Benchmark: the imported Cosmos DI tokenizer vs Cosmos's own code, encode + decode.

The published DI8x8 config (``TokenizerConfigs.DI`` with spatial_compression 8: Haar patch 4, ch 128 x
(2, 4, 4), z 256, FSQ (8, 8, 8, 5, 5, 5), 79.0M parameters) with random weights, from
NVIDIA/Cosmos-Tokenizer ``cosmos_tokenizer/`` at 3584ae7 (COSMOS_REPO: a checkout or its bare git dir;
its code needs einops and loguru on PYTHONPATH). The network is traced as NVIDIA's export does
(``encoder_jit()``, ``decoder_jit()``, texpr fuser off) in fp32, saved as encoder.jit / decoder.jit,
imported with ``tokkit.importers.import_checkpoint`` and loaded back, so tokkit runs what ``tokkit
import`` writes. Three implementations in one process, same images, alternating, after one untimed
batch-1 warm-up pass each (the TorchScript executor optimises on its first calls):
- ``eager``: Cosmos's modules, ``encode`` -> indices -> ``decode_code``;
- ``jit``: the traced encoder.jit -> indices -> decoder.jit (what Cosmos's ImageTokenizer runs);
- ``tokkit``: ``encode`` -> indices -> ``decode``.
Median of the repeats; wall and process CPU time; the last repeat's indices are compared, and its
reconstructions against tokkit decoding the same indices.

    COSMOS_REPO=/path/to/Cosmos-Tokenizer PYTHONPATH=EINOPS_LOGURU python benchmarks/import_cosmos.py \\
        [--batch 8] [--size 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from side_by_side import alternate, images

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "import"))


def build(size: int, tmp: Path) -> dict:
    """The three implementations of one random-weight DI8x8, as functions images -> (indices, recon)."""
    from make_fixtures_cosmos import cosmos_checkout

    sys.path.insert(0, str(cosmos_checkout(Path(os.environ["COSMOS_REPO"]))))
    from cosmos_tokenizer.networks import TokenizerConfigs, TokenizerModels

    from tokkit.importers import import_checkpoint
    from tokkit.io.checkpoint import load_tokenizer

    torch.manual_seed(0)
    net = TokenizerModels.DI.value(**{**TokenizerConfigs.DI.value, "spatial_compression": 8})
    net = net.eval().to(dtype=torch.float32)  # the FSQ output dtype too (Cosmos's default is bf16)
    torch._C._jit_set_texpr_fuser_enabled(False)
    example = torch.randn(1, 3, size, size)
    enc = torch.jit.trace(net.encoder_jit(), example)
    dec = torch.jit.trace(net.decoder_jit(), enc(example)[0])
    src = tmp / "Cosmos-0.1-Tokenizer-DI8x8"
    src.mkdir()
    torch.jit.save(enc, str(src / "encoder.jit"))
    torch.jit.save(dec, str(src / "decoder.jit"))
    import_checkpoint("cosmos", src, tmp / "tokkit")
    tok = load_tokenizer(tmp / "tokkit")

    def eager(x):
        idx = net.encode(x)[0]
        return idx, net.decode_code(idx)

    def jit(x):
        idx = enc(x)[0]
        return idx, dec(idx)

    def tokkit(x):
        t = tok.encode(x)
        return t.indices, tok.decode(t)

    def tokkit_decode(idx):
        return tok.decode(type(tok.encode(example))("discrete", indices=idx.long()))

    return {"eager": eager, "jit": jit, "tokkit": tokkit}, tokkit_decode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from machine import machine_info

    print(json.dumps({"machine": machine_info(), "torch_threads": torch.get_num_threads()}), flush=True)
    x = images(args.batch, args.size)
    with tempfile.TemporaryDirectory() as d, torch.no_grad():
        fns, tokkit_decode = build(args.size, Path(d))
        for fn in fns.values():
            fn(x[:1])  # warm-up
        times, cpu, outs = alternate(fns, x, args.repeats, "cosmos")
        # the decoders compared on the same indices (a near-tie index would otherwise dominate the diff)
        same = {ref: float((outs[ref][1] - tokkit_decode(outs[ref][0])).abs().max()) for ref in ("eager", "jit")}
    med = {k: statistics.median(v) for k, v in times.items()}
    row = {
        "family": "cosmos DI8x8",
        "batch": args.batch,
        "size": args.size,
        "seconds": times,
        "median_s": med,
        "images_per_s": {k: args.batch / v for k, v in med.items()},
        "cpu_s": cpu,
        "load_avg_end": os.getloadavg(),
    }
    for ref in ("eager", "jit"):
        row[f"ratio_tokkit_over_{ref}"] = med[ref] / med["tokkit"]
        row[f"pair_ratio_median_{ref}"] = statistics.median(
            [r / t for r, t in zip(times[ref], times["tokkit"], strict=True)]
        )
        row[f"cpu_ratio_{ref}"] = statistics.median(cpu[ref]) / statistics.median(cpu["tokkit"])
        row[f"index_agreement_{ref}"] = float((outs[ref][0].long() == outs["tokkit"][0]).float().mean())
        row[f"recon_max_abs_diff_{ref}"] = same[ref]
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

"""Encode + decode throughput of imported VAR / LlamaGen / taming tokenizers vs their reference code.

    python benchmarks/import_vq.py --var VAR_DIR --llamagen LLAMAGEN_DIR --taming TAMING_DIR [--repeats 3]

Checkouts as in tests/fixtures/import/make_fixtures_vq.py (VAR 78b9539, LlamaGen ce98ec4, taming
3ba01b2). Each reference is built at its FULL published configuration with random weights (taming's
codes drawn from its features' mean/std, see REFERENCE-import.md 0.5), its state_dict converted by the
tokkit importer, and both run in this process on the same batch (8 images, 256 px, fp32), alternating
reference / tokkit, ``--repeats`` times after one untimed warm-up image each; the median wall
time of each gives images/s and the ratio.
Runs on CPU. Peak memory: the process RSS above its level before the run, sampled every 5 ms
(the largest over the repeats). Also reported: token agreement and max |recon difference| between the two.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import threading
import time
import types
from pathlib import Path

import psutil
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class PeakRSS:
    def __init__(self) -> None:
        self.proc = psutil.Process()

    def __enter__(self):
        self.base = self.peak = self.proc.memory_info().rss
        self.run = True
        self.t = threading.Thread(target=self._poll, daemon=True)
        self.t.start()
        return self

    def _poll(self) -> None:
        while self.run:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.run = False
        self.t.join()
        self.mib = (self.peak - self.base) / 2**20


def build_var(root: Path):
    sys.path.insert(0, str(root))
    from models.vqvae import VQVAE

    torch.manual_seed(0)
    ref = VQVAE(vocab_size=4096, z_channels=32, ch=160, share_quant_resi=4, test_mode=True).eval()

    def run(x):
        idx = ref.img_to_idxBl(x)
        return [i.reshape(x.shape[0], -1) for i in idx], ref.idxBl_to_img(idx, same_shape=True, last_one=True)

    return "var", ref, run


def build_llamagen(root: Path):
    spec = importlib.util.spec_from_file_location("llamagen_vq", root / "tokenizer/tokenizer_image/vq_model.py")
    vq = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vq)
    torch.manual_seed(0)
    ref = vq.VQ_16().eval()

    def run(x):
        q, _, (_, _, idx) = ref.encode(x)
        return [idx.view(x.shape[0], -1)], ref.decode_code(idx, shape=q.shape)

    return "llamagen", ref, run


def build_taming(root: Path):
    for n in ("pytorch_lightning", "main"):
        sys.modules.setdefault(n, types.ModuleType(n))
    sys.modules["pytorch_lightning"].LightningModule = nn.Module
    sys.modules["main"].instantiate_from_config = lambda cfg: nn.Module()
    sys.path.insert(0, str(root))
    from taming.models.vqgan import VQModel

    dd = dict(double_z=False, z_channels=256, resolution=256, in_channels=3, out_ch=3, ch=128,
              ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16], dropout=0.0)  # fmt: skip
    torch.manual_seed(0)
    ref = VQModel(ddconfig=dd, lossconfig={}, n_embed=1024, embed_dim=256).eval()

    def run(x):
        q, _, (_, _, idx) = ref.encode(x)
        b, c, h, w = q.shape
        return [idx.view(b, -1)], ref.decode(ref.quantize.get_codebook_entry(idx, shape=(b, h, w, c)))

    return "taming", ref, run


def images(n: int, size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    low = torch.rand(n, 3, size // 16, size // 16, generator=g)
    x = nn.functional.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)
    return (x + 0.05 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1) * 2 - 1


def bench(family: str, ref: nn.Module, run_ref, x: torch.Tensor, repeats: int) -> dict:
    import importlib

    if family == "taming":  # taming's uniform(+-1/K) init: draw codes from the features instead
        with torch.no_grad():
            h = ref.quant_conv(ref.encoder(x[:2]))
            mu, sd = h.mean((0, 2, 3)), h.std((0, 2, 3))
            ref.quantize.embedding.weight.copy_(mu + sd * torch.randn_like(ref.quantize.embedding.weight))
    tok = importlib.import_module(f"tokkit.importers.{family}").from_state(ref.state_dict()).tokenizer.eval()

    def run_tok(x):
        t = tok.encode(x)
        return [m.reshape(x.shape[0], -1) for m in t.index_maps()], tok.decode(t)

    with torch.no_grad():  # warm-up (allocator, kernels) on one image, not timed
        run_ref(x[:1]), run_tok(x[:1])
    times: dict[str, list[float]] = {"reference": [], "tokkit": []}
    mem: dict[str, float] = {}
    outs = {}
    for _ in range(repeats):
        for name, fn in (("reference", run_ref), ("tokkit", run_tok)):
            with torch.no_grad(), PeakRSS() as p:
                t0 = time.perf_counter()
                outs[name] = fn(x)
                times[name].append(time.perf_counter() - t0)
            mem[name] = max(mem.get(name, 0.0), p.mib)
    (ri, rr), (ti, tr) = outs["reference"], outs["tokkit"]
    agree = torch.cat([(a == b).flatten() for a, b in zip(ri, ti, strict=True)]).float().mean().item()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "family": family,
        "params_M": sum(p.numel() for p in ref.parameters()) / 1e6,
        "ref_img_s": x.shape[0] / med["reference"],
        "tok_img_s": x.shape[0] / med["tokkit"],
        "ratio": med["reference"] / med["tokkit"],
        "ref_peak_mib": mem["reference"],
        "tok_peak_mib": mem["tokkit"],
        "agreement": agree,
        "recon_maxdiff": (rr - tr).abs().max().item(),
        "times": times,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--var", type=Path)
    ap.add_argument("--llamagen", type=Path)
    ap.add_argument("--taming", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    a = ap.parse_args()
    x = images(a.batch, a.size)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch}, {a.size} px", flush=True)
    from machine import machine_line

    print(machine_line() + "\n", flush=True)
    print("| family | params (M) | reference img/s | tokkit img/s | ratio tokkit/ref | peak MiB ref / tokkit "
          "| tokens equal | max abs recon diff |", flush=True)  # fmt: skip
    print("|---|---|---|---|---|---|---|---|", flush=True)
    for root, build in ((a.var, build_var), (a.llamagen, build_llamagen), (a.taming, build_taming)):
        if root is None:
            continue
        family, ref, run = build(root.resolve())
        r = bench(family, ref, run, x, a.repeats)
        print(f"| {family} | {r['params_M']:.1f} | {r['ref_img_s']:.3f} | {r['tok_img_s']:.3f} | **{r['ratio']:.3f}** "
              f"| {r['ref_peak_mib']:.0f} / {r['tok_peak_mib']:.0f} | {r['agreement']:.4f} | {r['recon_maxdiff']:.2e} |"
              f"  <!-- times ref {[round(t, 2) for t in r['times']['reference']]} tokkit "
              f"{[round(t, 2) for t in r['times']['tokkit']]} -->", flush=True)  # fmt: skip
        del ref


if __name__ == "__main__":
    main()

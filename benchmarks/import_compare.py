"""Issue 9's done-when at the published sizes: VAR, LlamaGen VQ-16 and MAR KL-16 side by side at 256 px.

1. Build each FULL published configuration with the reference code (random weights, fixed seeds):
   VAR ``VQVAE(vocab_size=4096, z_channels=32, ch=160, share_quant_resi=4)`` (FoundationVision/VAR
   @ 78b9539), LlamaGen ``VQ_16()`` (FoundationVision/LlamaGen @ ce98ec4), MAR
   ``AutoencoderKL(embed_dim=16, ch_mult=(1, 1, 2, 2, 4))`` (LTH14/mar @ fe470ac); save each in its
   published layout and file name (``vae_ch160v4096z32.pth``: a bare state_dict; ``vq_ds16_c2i.pt``
   and ``kl16.ckpt``: ``{"model": state_dict}``).
2. ``tokkit import`` each (the CLI, as a user runs it).
3. Faithfulness at 256 px on the first ``--check-images`` builtin:photos images: tokkit's indices
   (every scale for VAR), latents and reconstructions against the reference's (fp32 CPU).
4. ``tokkit eval compare`` over the three imported checkpoints at 256 px on builtin:photos.

The upstream code is imported at run time from checkouts (``git archive`` of the fetched mirrors at
the commits above), never copied. Weights are random, so the compare's numbers say nothing about the
published tokenizers; what the run shows is that the published layouts import, match the reference
and go through the whole evaluation at their native size.

Usage: python benchmarks/import_compare.py --var VAR_DIR --llamagen LLAMAGEN_DIR --mar MAR_DIR --out DIR
       [--num-images 32 --samples 16 --probe-steps 200 --snr-db 20,10 --check-images 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

SIZE = 256
LATENT_SCALE_MAR = 0.2325


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def photos(n: int) -> torch.Tensor:
    """The first ``n`` builtin:photos images as tokkit's eval crops, (n, 3, 256, 256) in [-1, 1]."""
    from tokkit.data import open_source
    from tokkit.data.transforms import eval_transform

    src = open_source("builtin:photos")
    return torch.stack([eval_transform(src.read(i), SIZE) for i in range(n)])


# --- reference models: build, save in the published layout, and a reference encode/decode ------------
def build_var(root: Path, out: Path):
    sys.path.insert(0, str(root))
    from models.vqvae import VQVAE

    torch.manual_seed(0)
    vae = VQVAE(vocab_size=4096, z_channels=32, ch=160, share_quant_resi=4, test_mode=True).eval()
    path = out / "vae_ch160v4096z32.pth"
    torch.save(vae.state_dict(), path)

    def ref(x: torch.Tensor) -> dict[str, torch.Tensor]:
        idx = vae.img_to_idxBl(x)  # list of (B, pn*pn)
        f = vae.quant_conv(vae.encoder(x))
        f_hat = vae.quantize.f_to_idxBl_or_fhat(f, to_fhat=True)[-1]
        recon = vae.idxBl_to_img(idx, same_shape=True, last_one=True)
        return {"indices": torch.cat([i.reshape(len(x), -1) for i in idx], 1), "features": f, "latents": f_hat,
                "recon": recon}  # fmt: skip

    return "var", path, vae, ref


def build_llamagen(root: Path, out: Path):
    vq = _module(root / "tokenizer/tokenizer_image/vq_model.py", "llamagen_vq_model")
    torch.manual_seed(1)
    model = vq.VQ_16().eval()
    path = out / "vq_ds16_c2i.pt"
    torch.save({"model": model.state_dict()}, path)

    def ref(x: torch.Tensor) -> dict[str, torch.Tensor]:
        _, _, (_, _, idx) = model.encode(x)
        h = torch.nn.functional.normalize(model.quant_conv(model.encoder(x)), dim=1)
        b, d, hh, ww = h.shape
        recon = model.decode_code(idx, shape=(b, d, hh, ww))
        return {"indices": idx.view(b, -1), "features": h, "recon": recon}

    return "llamagen", path, model, ref


def build_mar(root: Path, out: Path):
    vae_mod = _module(root / "models/vae.py", "mar_vae")
    torch.manual_seed(2)
    vae = vae_mod.AutoencoderKL(embed_dim=16, ch_mult=(1, 1, 2, 2, 4)).eval()
    path = out / "kl16.ckpt"
    torch.save({"model": vae.state_dict()}, path)

    def ref(x: torch.Tensor) -> dict[str, torch.Tensor]:
        mean = vae.encode(x).mode()
        return {"latents": mean * LATENT_SCALE_MAR, "recon": vae.decode(mean)}

    return "mar-kl16", path, vae, ref


# --- steps ---------------------------------------------------------------------------------------------
def tokkit_cli(*args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "tokkit_cli", *args], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"tokkit {' '.join(args[:2])} failed:\n{res.stderr[-3000:]}")
    return time.perf_counter() - t0, res.stdout


def check(family: str, ckpt: Path, ref, x: torch.Tensor) -> dict:
    """Max abs differences (and index agreement) of tokkit's encode/decode against the reference."""
    from tokkit.io.checkpoint import load_tokenizer

    tok = load_tokenizer(ckpt)
    with torch.no_grad():
        want = ref(x)
        t = tok.encode(x)
        got = {"recon": tok.decode(t)}
    if "indices" in want:
        got["indices"] = torch.cat([m.reshape(len(x), -1) for m in t.index_maps()], 1)
        got["features"] = t.features
    if "latents" in want:
        got["latents"] = t.quantized if family == "var" else t.latents
    row: dict = {"family": family, "images": len(x)}
    for key, w in want.items():
        g = got[key]
        if key == "indices":
            row["indices_equal"] = float((g == w).double().mean())
            row["codes_used"] = int(w.unique().numel())
        else:
            row[f"{key}_max_abs"] = float((g - w).abs().max())
    row["recon_std"] = float(want["recon"].std())  # a constant reconstruction would match trivially
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--var", type=Path, required=True)
    ap.add_argument("--llamagen", type=Path, required=True)
    ap.add_argument("--mar", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--check-images", type=int, default=2)
    ap.add_argument("--num-images", type=int, default=32)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--probe-steps", type=int, default=200)
    ap.add_argument("--snr-db", default="20,10")
    args = ap.parse_args()
    torch.set_num_threads(min(os.cpu_count() or 1, 16))
    args.out.mkdir(parents=True, exist_ok=True)
    src_dir = args.out / "published"
    src_dir.mkdir(exist_ok=True)
    x = photos(args.check_images)
    from machine import machine_info

    report: dict = {"size": SIZE, "machine": machine_info(), "checks": [], "imports": []}
    ckpts = []
    for build, root in ((build_var, args.var), (build_llamagen, args.llamagen), (build_mar, args.mar)):
        family, path, model, ref = build(root, src_dir)
        ckpt = args.out / family
        shutil.rmtree(ckpt, ignore_errors=True)  # a rerun imports again
        secs, out = tokkit_cli("import", family, str(path), "--out", str(ckpt), "--json")
        params = sum(p.numel() for p in model.parameters())
        row = {"family": family, "source": path.name, "bytes": path.stat().st_size, "reference_parameters": params}
        report["imports"].append({**row, "seconds": secs, "summary": json.loads(out)})
        report["checks"].append(check(family, ckpt, ref, x))
        print(json.dumps({"check": report["checks"][-1]}), flush=True)
        ckpts.append(str(ckpt))
        del model, ref
    compare = args.out / "compare"
    shutil.rmtree(compare, ignore_errors=True)
    secs, out = tokkit_cli(
        "eval", "compare", *ckpts, "--data", "builtin:photos", "--out", str(compare), "--image-size", str(SIZE),
        "--num-images", str(args.num_images), "--samples", str(args.samples), "--probe-steps", str(args.probe_steps),
        "--snr-db", args.snr_db, "--json",
    )  # fmt: skip
    report["compare"] = {"seconds": secs, "args": {k: str(v) for k, v in vars(args).items()}, "result": json.loads(out)}
    (args.out / "report.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(json.dumps({"compare_seconds": secs}), flush=True)


if __name__ == "__main__":
    main()

"""Benchmark: tokkit's ``digit`` encoder / imported DiGIT tokenizer vs DiGIT's own code, same weights.

The full published ViT-B/14-reg4 (DiGIT's ``vit_base(14, 4, block_chunks=0, init_values=1)``, its own
random init, saved in Meta's layout and loaded by tokkit from that file), 256-px images, batch 8:
- ``features``: DiGIT's ``prepare_semantic`` input path + ``get_intermediate_layers(x, 3)[0]`` vs
  tokkit ``create_encoder("digit")(x)``;
- ``tokens``: DiGIT's ``prepare_semantic`` (features + its argmin over K centroids) vs the imported
  tokenizer's ``encode`` (K = 8192 random centroids from a .npy, through ``import_checkpoint``).
Same process, runs alternate (DiGIT, tokkit, DiGIT, ...), median of ``--repeats``; the outputs are
compared first. Peak memory: each side alone in a fresh process that builds it and tokenizes one
batch (peak RSS, also over the RSS after importing its libraries; peak CUDA memory on a GPU). In
the ``tokens`` runs tokkit's tokenizer holds its own encoder (the one in ``features`` is a second
copy), as an imported checkpoint does.

    python benchmarks/import_digit.py --repo /work/.mirror/DAMO-NLP-SG+DiGIT/repo [--repeats 3]

DiGIT's code is read from the git dir at the fixture script's commit (tests/fixtures/import).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "import"))
from make_fixtures_digit import _Self, load_prepare_semantic, load_vits  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def digit_features(model: torch.nn.Module, x01: torch.Tensor) -> torch.Tensor:
    """prepare_semantic's input path, then get_intermediate_layers (the features it assigns)."""
    x = (x01 - MEAN.to(x01)) / STD.to(x01)
    x = torch.nn.functional.interpolate(x, scale_factor=224 / 256, mode="bicubic")
    return model.get_intermediate_layers(x, 3)[0]


def make_files(repo: Path, work: Path, k: int) -> None:
    """DiGIT's own random init saved in Meta's layout, K random centroids, and their tokkit import."""
    from tokkit.importers import import_checkpoint

    torch.manual_seed(0)
    torch.save(load_vits(repo).vit_base(14, 4, block_chunks=0, init_values=1).state_dict(), work / "dino.pth")
    np.save(work / "km_8k.npy", np.random.default_rng(0).standard_normal((k, 768), dtype=np.float32))
    import_checkpoint("digit", work / "km_8k.npy", work / "tok", encoder_weights=str(work / "dino.pth"))


def build_digit(repo: Path, work: Path, device: str):
    """DiGIT's model (loaded strictly, as preprocess/dinov2_encoder.py does) and a prepare_semantic ``self``."""
    ref = load_vits(repo).vit_base(14, 4, block_chunks=0, init_values=1)
    ref.load_state_dict(torch.load(work / "dino.pth", weights_only=True), strict=True)
    ref = ref.to(device).eval()
    return ref, _Self(ref, torch.from_numpy(np.load(work / "km_8k.npy")).to(device))


def build_tokkit(work: Path, device: str):
    from tokkit.encoders import create_encoder
    from tokkit.io.checkpoint import load_tokenizer

    enc = create_encoder("digit", weights=str(work / "dino.pth")).to(device)
    return enc, load_tokenizer(work / "tok", device=device)


def timed(fn, *args) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    with torch.no_grad():
        fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t


def peak_rss_mib() -> float:
    """This process's peak RSS. Linux: VmHWM (ru_maxrss would carry the parent's peak across fork+exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak(args: argparse.Namespace, side: str) -> None:
    """One side alone in this (fresh) process: build it, tokenize one batch, report peak memory."""
    work = Path(args.work)
    if side == "tokkit":  # imported lazily on first use otherwise: count them in the baseline
        import faiss  # noqa: F401
        import timm  # noqa: F401

        import tokkit.encoders.digit  # noqa: F401
        import tokkit.tokenizers.kmeans  # noqa: F401
    else:
        load_vits(args.repo)
    baseline = peak_rss_mib()  # the libraries alone (torch with its CUDA libraries is ~0.7 GiB here)
    x01 = torch.rand(args.batch, 3, 256, 256, device=args.device)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        if side == "digit":
            _, me = build_digit(args.repo, work, args.device)
            load_prepare_semantic(args.repo)(me, x01, None)
        else:  # the imported checkpoint alone: it builds its own encoder on first use
            from tokkit.io.checkpoint import load_tokenizer

            load_tokenizer(work / "tok", device=args.device).encode(x01 * 2 - 1)
    top = peak_rss_mib()
    out = {"side": side, "peak_rss_mib": round(top, 1), "after_imports_mib": round(baseline, 1),
           "peak_over_imports_mib": round(top - baseline, 1)}  # fmt: skip
    if torch.cuda.is_available():
        out["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(out))


def peak_in_child(args: argparse.Namespace, side: str) -> dict:
    cmd = [sys.executable, __file__, "--repo", str(args.repo), "--work", args.work, "--peak", side,
           "--batch", str(args.batch), "--k", str(args.k), "--device", args.device]  # fmt: skip
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, required=True, help="git dir of DAMO-NLP-SG/DiGIT")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--k", type=int, default=8192)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--work", default=None, help="(internal) folder with the weights and the import")
    ap.add_argument("--peak", choices=["digit", "tokkit"], default=None, help="(internal) one side's memory")
    ap.add_argument("--memory-only", action="store_true", help="skip the timings")
    args = ap.parse_args()
    if args.peak:
        return peak(args, args.peak)
    from machine import machine_info

    machine = machine_info()
    with tempfile.TemporaryDirectory() as work:
        args.work = work
        make_files(args.repo, Path(work), args.k)
        if args.memory_only:
            mem = {f"memory_{side}": peak_in_child(args, side) for side in ("digit", "tokkit")}
            return print(json.dumps({"machine": machine, **mem}))
        ref, me = build_digit(args.repo, Path(work), args.device)
        enc, tok = build_tokkit(Path(work), args.device)
        prepare_semantic = load_prepare_semantic(args.repo)
        torch.manual_seed(1)
        x01 = torch.rand(args.batch, 3, 256, 256, device=args.device)
        x = x01 * 2 - 1
        with torch.no_grad():  # same outputs first
            f_ref, f_tok = digit_features(ref, x01), enc(x).flatten(2).transpose(1, 2)
            t_ref = prepare_semantic(me, x01, None)
            t_tok = tok.encode(x).indices.flatten(1)
        result = {
            "machine": machine,
            "device": args.device,
            "batch": args.batch,
            "image_size": 256,
            "k": args.k,
            "features_max_abs_diff": float((f_ref - f_tok).abs().max()),
            "features_max_abs": float(f_ref.abs().max()),
            "tokens_equal_fraction": float((t_ref == t_tok).float().mean()),
        }
        pairs = {
            "features": (lambda: digit_features(ref, x01), lambda: enc(x)),
            "tokens": (lambda: prepare_semantic(me, x01, None), lambda: tok.encode(x)),
        }
        for name, (f_digit, f_tokkit) in pairs.items():
            timed(f_digit), timed(f_tokkit)  # warm-up
            td, tt = [], []
            for _ in range(args.repeats):  # alternating
                td.append(timed(f_digit))
                tt.append(timed(f_tokkit))
            md, mt = statistics.median(td), statistics.median(tt)
            result[name] = {
                "digit_s": round(md, 3),
                "tokkit_s": round(mt, 3),
                "digit_img_per_s": round(args.batch / md, 2),
                "tokkit_img_per_s": round(args.batch / mt, 2),
                "tokkit_over_digit_throughput": round(md / mt, 3),
                "runs_digit": [round(t, 3) for t in td],
                "runs_tokkit": [round(t, 3) for t in tt],
            }
        for side in ("digit", "tokkit"):
            result[f"memory_{side}"] = peak_in_child(args, side)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

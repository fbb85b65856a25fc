"""Pick the demo's k-means encoder layer and image size from measurement (benchmarks/demo.md).

For effnet-lite0 layers 3/4/5 at 64 and 128 px: fit a K=256 k-means tokenizer on builtin:photos
(the demo's training images), measure stability on held-out crops (builtin:photos seed 1), train
its pixel decoder for a short fixed budget and measure PSNR on the held-out crops. Everything
goes through the library API the demo uses. Prints one JSON line per setting, then a table.

    OMP_NUM_THREADS=1 python benchmarks/demo_layers.py --out /tmp/demo_layers [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/demo_layers")
    ap.add_argument("--layers", default="3,4,5")
    ap.add_argument("--sizes", default="64,128")
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--eval-images", type=int, default=32)
    args = ap.parse_args()

    import torch

    from tokkit.clustering.fit import fit_kmeans
    from tokkit.io.checkpoint import load_tokenizer
    from tokkit.metrics.recon import evaluate_recon
    from tokkit.metrics.stability import evaluate_stability
    from tokkit.train import resolve_config, train

    torch.set_num_threads(1)
    from machine import machine_info, machine_line

    machine = machine_info()
    print(json.dumps({"machine": machine}), flush=True)
    out = Path(args.out)
    train_data, held = "builtin:photos", f"builtin:photos:n={args.eval_images},seed=1"
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        for layer in args.layers.split(","):
            t0 = time.time()
            km = out / f"km_l{layer}_{size}"
            if not (km / "config.json").is_file():
                fit_kmeans(
                    args.k, km, encoder="effnet-lite0", data=train_data, layer=layer, image_size=size, device="cpu"
                )
            tok = load_tokenizer(km)
            grid = tok.token_shape(size)
            stab = evaluate_stability(tok, held, image_size=size, snr_db=[30, 15, 5, 1], perturbations=[], device="cpu")
            run = out / f"dec_l{layer}_{size}"
            if not (run / "checkpoints" / "final" / "config.json").is_file():
                cfg = resolve_config(
                    "kmeans-decoder", flags={"tokenizer": str(km), "data": train_data, "steps": args.steps}
                )
                train(cfg, run, device="cpu")
            rec = evaluate_recon(run / "checkpoints" / "final", held, image_size=size, fid_features="effnet-lite0",
                                 device="cpu", use_cache=True)  # fmt: skip
            b = stab["baselines"]
            row = {
                "layer": layer,
                "image_size": size,
                "grid": list(grid),
                "dim": int(tok.codebook.shape[1]),
                "change@15dB": stab["token_change_rate"][1],
                "random_codes_change": b["token_change_random_codes"],
                "cos_features@15dB": stab["cosine_features"][1],
                "cos_features_centred@15dB": stab["cosine_features_centred"][1],
                "feature_snr_db@15dB": stab["feature_snr_db"][1],
                "cos_features_centred@1dB": stab["cosine_features_centred"][3],
                "random_pairs_cos": b["cosine_random_pairs"]["features"],
                "decoder_psnr": rec["psnr"],
                "decoder_rfid": rec["rfid"],
                "seconds": time.time() - t0,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    keys = list(rows[0])
    print(machine_line(info=machine) + "\n")
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main()

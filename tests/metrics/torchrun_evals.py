"""Run eval stats, eval latent, eval generation and eval compare in one process group (``python THIS.py CKPT
OUT``, or under ``torchrun``): rank 0 prints one JSON object with the four results (test_torchrun_eval.py)."""

from __future__ import annotations

import json
import sys

from tokkit.threads import configure_threads

configure_threads()  # as the CLI does: OMP_NUM_THREADS (1 in the test) before torch loads

from tokkit.generation.pipeline import evaluate_generation  # noqa: E402
from tokkit.metrics.compare import compare_tokenizers  # noqa: E402
from tokkit.metrics.latent import evaluate_latent  # noqa: E402
from tokkit.metrics.ref_stats import write_ref_stats  # noqa: E402
from tokkit.metrics.shards import is_main_process  # noqa: E402

DATA = "builtin:photos:n=15,size=64"


def main(ckpt: str, out: str) -> None:
    common = {"fid_features": "pixels", "image_size": 64, "batch_size": 4, "use_cache": False, "device": "cpu"}
    stats = write_ref_stats(DATA, out, **common)
    latent = evaluate_latent(ckpt, DATA, **{k: v for k, v in common.items() if k != "use_cache"})
    gen = evaluate_generation(ckpt, DATA, order="raster", samples=8, seeds=2, **common,
                              probe=_probe(steps=3))  # fmt: skip
    cmp = compare_tokenizers([ckpt], DATA, out + ".compare", image_size=64, batch_size=4, fid_features="pixels",
                             device="cpu", use_cache=False, samples=4, seeds=1, snr_db=[10.0],
                             probe=_probe(steps=2))  # fmt: skip
    if is_main_process():
        print(json.dumps({"stats": stats, "latent": latent, "generation": gen, "compare": cmp["rows"]}, default=str))


def _probe(steps: int):
    from tokkit.generation.config import ProbeConfig

    return ProbeConfig(steps=steps)


if __name__ == "__main__":
    main(*sys.argv[1:3])

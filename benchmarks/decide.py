"""At which CPU budget does the generation probe separate tokenizers that are known to differ?

Trains one vqgan-tiny on builtin:photos (the demo's recipe, at ``--image-size``), then runs
``tokkit.generation.probe_check`` (random codes at levels 0, 0.1, 0.3, 0.6) at several probe budgets
(probe steps x samples), with 5 seeds each, and reports for gFID and for the held-out bits per
token: the Spearman correlation of level vs the measure and the resolved pairs (paired 95% interval
over seeds excludes 0, in the known order) using the first 1, 3 and 5 seeds. Also the wall time of
one probe-check rung at 3 seeds vs 1 (the cost of ``--seeds 3``: tokens and real statistics are
computed once).

    python benchmarks/decide.py --out benchmarks/decide.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

LEVELS = (0.0, 0.1, 0.3, 0.6)


def _train(out: Path, image_size: int, steps: int) -> Path:
    from tokkit.train import resolve_config, train

    flags = {"data": "builtin:photos", "steps": steps, "image_size": image_size, "seed": 0}
    train(resolve_config("vqgan-tiny", flags=flags), out, device="cpu")
    return out / "checkpoints" / "final"


def _subset(measure: dict, k: int) -> dict:
    """The ladder summary recomputed on the first k seeds."""
    from tokkit.generation.probe_check import _ladder_summary

    vals = [v[:k] for v in measure["per_seed"]]
    if k < 2:
        means = [v[0] for v in vals]
        from scipy.stats import spearmanr

        return {"seeds": 1, "spearman": float(spearmanr(measure["levels"], means).statistic), "resolved_pairs": None}
    s = _ladder_summary(measure["levels"], vals, "gfid")
    return {"seeds": len(vals[0]), "spearman": s["spearman"], "resolved_pairs": s["resolved_pairs"],
            "pairs": s["pairs"], "seeds_needed": s["seeds_needed"], "mean": s["mean"], "std": s["std"]}  # fmt: skip


def report(res: dict) -> str:
    """Markdown tables of a decide.json: per budget and measure, Spearman and resolved pairs by seeds."""
    from machine import machine_line

    lines = [machine_line(res.get("load"), res["machine"]), "",
             "| probe steps x samples | measure | level means (0 / 0.1 / 0.3 / 0.6) | seeds | Spearman | "
             "resolved pairs | seeds needed |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for b in res["budgets"]:
        for m, d in b["measures"].items():
            means = " / ".join(f"{v:.3g}" for v in d["full"]["mean"])
            for sub in d["by_seeds"]:
                rp = "-" if sub.get("resolved_pairs") is None else f"{sub['resolved_pairs']} of {sub['pairs']}"
                lines.append(f"| {b['probe_steps']} x {b['samples']} | {m} | {means} | {sub['seeds']} | "
                             f"{sub['spearman']:.2f} | {rp} | {sub.get('seeds_needed') or '-'} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--train-steps", type=int, default=200)
    ap.add_argument("--num-images", type=int, default=128)
    ap.add_argument("--budgets", default="60x32,300x64", help="probe steps x samples, comma separated")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("decide.json"))
    ap.add_argument("--seeds-cost-only", action="store_true", help="only time --seeds 3 vs 1 (run it idle)")
    ap.add_argument("--report", type=Path, help="print the markdown tables of an existing decide.json and exit")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    if args.report:
        print(report(json.loads(args.report.read_text())))
        return
    from machine import machine_info

    from tokkit.generation import ProbeConfig
    from tokkit.generation.probe_check import probe_check
    from tokkit.threads import configure_threads

    configure_threads()
    res: dict = {"machine": machine_info(), "settings": vars(args) | {"out": str(args.out)}, "budgets": []}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ckpt = _train(Path(tmp) / "vq", args.image_size, args.train_steps)
        res["train_seconds"] = time.perf_counter() - t0
        for budget in [] if args.seeds_cost_only else args.budgets.split(","):
            steps, samples = (int(x) for x in budget.split("x"))
            t0 = time.perf_counter()
            r = probe_check(ckpt, "builtin:photos", levels=LEVELS, seeds=args.seeds, probe=ProbeConfig(steps=steps),
                            samples=samples, num_images=args.num_images, image_size=args.image_size,
                            fid_features="effnet-lite0")  # fmt: skip
            ks = sorted({1, min(3, args.seeds), args.seeds})
            entry = {"probe_steps": steps, "samples": samples, "seconds": time.perf_counter() - t0,
                     "measures": {m: {"full": s, "by_seeds": [_subset(s, k) for k in ks]}
                                  for m, s in r["measures"].items()}}  # fmt: skip
            res["budgets"].append(entry)
            print(json.dumps({k: entry[k] for k in ("probe_steps", "samples", "seconds")}), file=sys.stderr, flush=True)
            args.out.write_text(json.dumps(res, indent=2) + "\n")
        res["seeds_cost"] = _seeds_cost(ckpt, args)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res["seeds_cost"]))


def _seeds_cost(ckpt: Path, args: argparse.Namespace) -> dict:
    """Wall time of evaluate_generation with 3 seeds vs 1 (same data, budget and samples), alternated."""
    from tokkit.generation import ProbeConfig, evaluate_generation

    times: dict[int, list[float]] = {1: [], 3: []}
    for _ in range(2):
        for k in (1, 3):
            t0 = time.perf_counter()
            evaluate_generation(ckpt, "builtin:photos", num_images=args.num_images, image_size=args.image_size,
                                probe=ProbeConfig(steps=60), samples=32, seeds=k,
                                fid_features="effnet-lite0")  # fmt: skip
            times[k].append(time.perf_counter() - t0)
    ratios = [b / a for a, b in zip(times[1], times[3], strict=True)]
    return {"seconds_1_seed": times[1], "seconds_3_seeds": times[3], "ratio": ratios}


if __name__ == "__main__":
    main()

"""CPU work when other processes use the cores: tokkit's thread defaults vs those of tokkit 0.2.1.

The run (issue 21, item 8): ``tokkit train vqgan-tiny --data builtin:photos:n=96,size=64 --steps 30
--image-size 32``, idle and with one and two competing CPU-bound processes that this script starts
and stops. Each side is a whole process; the sides alternate (baseline, current, baseline, ...) at
the same work. The figure is the training throughput the run logs itself (``images_per_s`` in
``metrics.jsonl``, mean of its logged steps), so start-up and checkpoint writing do not count.

Baseline: the tokkit source at ``--baseline-rev`` (default: the 0.2.1 commit), exported with
``git archive`` and run from that folder, with OMP_WAIT_POLICY / OMP_NUM_THREADS / TOKKIT_THREADS
removed from the environment of both sides (the defaults are what is measured).

    python benchmarks/threads.py --reps 2 --out benchmarks/threads.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_REV = "ec132e6"  # tokkit 0.2.1, before the thread defaults
RUN = ["train", "vqgan-tiny", "--data", "builtin:photos:n=96,size=64", "--steps", "30", "--image-size", "32"]
SPIN = "import time\nt = time.time() + 3600\nwhile time.time() < t:\n    pass\n"


def _clean_env(src: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "TOKKIT_THREADS")}
    env["PYTHONPATH"] = str(src)
    env["TOKKIT_NO_PROGRESS"] = "1"
    return env


def _export(rev: str, into: Path) -> Path:
    """The tokkit source at ``rev`` as plain files (no checkout of this repository changes)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _one_run(src: Path, out: Path) -> float:
    """Training images/s of one whole ``tokkit train`` process (mean over its logged steps)."""
    cmd = [sys.executable, "-m", "tokkit_cli", *RUN, "--out", str(out), "--json"]
    proc = subprocess.run(cmd, env=_clean_env(src), capture_output=True, text=True, cwd=src)
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({src}): {proc.stderr.strip().splitlines()[-1:]}")
    rates = [r["images_per_s"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
             if "images_per_s" in r]  # fmt: skip
    return statistics.fmean(rates)


def _competitors(n: int) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]
    time.sleep(1.0)  # let them get going
    return procs


def measure(baseline_rev: str, reps: int, loads: list[int]) -> dict:
    from machine import machine_info  # benchmarks/machine.py

    results: dict = {"run": " ".join(["tokkit", *RUN]), "baseline_rev": baseline_rev, "reps": reps, "loads": []}
    results["machine"] = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        base_src = _export(baseline_rev, Path(tmp) / "baseline")
        for n in loads:
            rates: dict[str, list[float]] = {"baseline": [], "current": []}
            procs = _competitors(n)
            try:
                for rep in range(reps):
                    for side, src in (("baseline", base_src), ("current", ROOT)):
                        rate = _one_run(src, Path(tmp) / f"run-{n}-{rep}-{side}")  # a fresh run directory
                        rates[side].append(rate)
                        print(f"competitors={n} rep={rep} {side}: {rate:.2f} images/s", file=sys.stderr, flush=True)
            finally:
                for p in procs:
                    p.kill()
                    p.wait()
            ratios = [c / b for b, c in zip(rates["baseline"], rates["current"], strict=True)]
            results["loads"].append({
                "competing_processes": n,
                "baseline_images_per_s": rates["baseline"],
                "current_images_per_s": rates["current"],
                "ratio_current_over_baseline": ratios,
                "median_ratio": statistics.median(ratios),
            })  # fmt: skip
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-rev", default=BASELINE_REV)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--loads", default="0,1,2", help="numbers of competing CPU-bound processes")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "threads.json")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    res = measure(args.baseline_rev, args.reps, [int(x) for x in args.loads.split(",")])
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print("| competing processes | 0.2.1 images/s | now images/s | ratio (median) |")
    print("|---|---|---|---|")
    for r in res["loads"]:
        b = ", ".join(f"{v:.1f}" for v in r["baseline_images_per_s"])
        c = ", ".join(f"{v:.1f}" for v in r["current_images_per_s"])
        print(f"| {r['competing_processes']} | {b} | {c} | {r['median_ratio']:.2f}x |")


if __name__ == "__main__":
    main()

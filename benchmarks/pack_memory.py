"""Peak memory of `tokkit data pack` at two data sizes: it must not grow with N.

Each pack runs in its own subprocess; peak RSS comes from getrusage of that child.
Usage: python benchmarks/pack_memory.py [--sizes 500,2000] [--image-size 128]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

CHILD = """
import resource, sys
from tokkit.data.pack import pack_images
pack_images(sys.argv[1], sys.argv[2], int(sys.argv[3]), chunk_rows=64)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mib(spec: str, out: str, image_size: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-c", CHILD, spec, out, str(image_size)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TOKKIT_NO_PROGRESS": "1"},
    )
    return int(res.stdout.strip().splitlines()[-1]) / 1024, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="500,2000")
    ap.add_argument("--image-size", type=int, default=128)
    args = ap.parse_args()
    from machine import machine_info, machine_line

    machine = machine_info()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            spec = f"builtin:photos:n={n},size=160"
            mib, secs = peak_rss_mib(spec, os.path.join(tmp, f"p{n}.h5"), args.image_size)
            rows.append((n, mib, secs))
    print(machine_line(info=machine) + "\n")
    print("| N images | peak RSS (MiB) | wall (s) |")
    print("|---|---|---|")
    for n, mib, secs in rows:
        print(f"| {n} | {mib:.0f} | {secs:.1f} |")
    print(f"\nratio peak(N={rows[-1][0]}) / peak(N={rows[0][0]}) = {rows[-1][1] / rows[0][1]:.3f}")


if __name__ == "__main__":
    main()

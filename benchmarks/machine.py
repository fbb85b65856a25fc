"""The machine a benchmark ran on, recorded beside its figures (issue 21, item 7).

``machine_info()`` returns a JSON-ready dict: CPU model, physical and logical cores, the cores this process may
use, total memory, GPUs, the load average at the moment of the call, platform, Python, and the torch / numpy
versions. ``machine_line(load)`` renders it as the one markdown line that goes above a results table
(benchmarks/README.md gives the rule)::

    Machine: AMD EPYC, 2 cores (2 available), 24 GiB, no GPU; load average 0.31 at start; load: idle

Nothing here imports torch or numpy: versions come from the installed package metadata, so calling it does not
change a benchmark's memory or start-up time. Threads and CUDA devices are read from torch only when the script
has already imported it. Scripts import it as ``from machine import ...`` (``python benchmarks/X.py`` puts
benchmarks/ on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from importlib import metadata


def _cpuinfo() -> tuple[str | None, int | None]:
    """(model name, physical cores) from /proc/cpuinfo, or (None, None) where there is none (not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return None, None
    model, cores = None, set()
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        model = model or fields.get("model name") or fields.get("Model") or fields.get("Hardware")
        if "core id" in fields:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
    return model, (len(cores) or None)


def _memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _gpus() -> list[str]:
    """CUDA device names if the script has imported torch; else the NVIDIA driver's device count (Linux)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            return []
        except Exception:  # a broken CUDA setup must not stop a CPU benchmark
            return []
    try:
        return ["NVIDIA GPU"] * len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return []


def machine_info() -> dict:
    """What a reader needs to compare a figure with their own: CPU, cores, memory, GPU, load, versions."""
    model, physical = _cpuinfo()
    logical = os.cpu_count()
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = logical
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    mem = _memory_bytes()
    info = {
        "cpu_model": model or platform.processor() or platform.machine() or "unknown CPU",
        "physical_cores": physical,
        "logical_cores": logical,
        "available_cores": available,
        "memory_gib": round(mem / 2**30, 1) if mem else None,
        "gpus": _gpus(),
        "load_average": load,  # 1, 5 and 15 minutes, at the moment of the call
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            info["torch_threads"] = torch.get_num_threads()
        except Exception:
            pass
    return info


def machine_line(load: str | None = None, info: dict | None = None) -> str:
    """One markdown line naming the machine, its cores and its load; ``load`` adds how loaded it was, in words."""
    i = info if info is not None else machine_info()
    logical, physical, avail = i.get("logical_cores"), i.get("physical_cores"), i.get("available_cores")
    if physical and logical and physical != logical:
        cores = f"{physical} cores / {logical} threads"
    else:
        cores = f"{logical or '?'} cores"
    if avail is not None:
        cores += f" ({avail} available)"
    parts = [str(i.get("cpu_model") or "unknown CPU"), cores]
    if i.get("memory_gib"):
        parts.append(f"{round(i['memory_gib'])} GiB")
    gpus = i.get("gpus") or []
    parts.append(", ".join(gpus) if gpus else "no GPU")
    line = "Machine: " + ", ".join(parts)
    threads = [f"OMP_NUM_THREADS={i['omp_num_threads']}"] if i.get("omp_num_threads") else []
    if i.get("torch_threads"):
        threads.append(f"torch.get_num_threads()={i['torch_threads']}")
    if threads:
        line += " (" + ", ".join(threads) + ")"
    la = i.get("load_average")
    line += f"; load average {la[0]:.2f} at start" if la else "; load average unknown"
    if load:
        line += f"; load: {' '.join(load.split())}"
    return line


if __name__ == "__main__":
    import json

    print(json.dumps(machine_info(), indent=1))
    print(machine_line())

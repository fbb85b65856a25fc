"""CPU thread settings that do not collapse when other processes use the cores.

OpenMP threads (torch's intra-op pool, libgomp) spin-wait for their partners by default. When
another process holds a core, a spinning thread burns its time slice waiting for a partner that is
descheduled: measured on a 2-core machine with two competing CPU-bound processes, a tiny training
ran 26x slower with the defaults and at the idle speed with a passive wait policy
(``benchmarks/threads.md``). A passive policy costs ~13% on an idle machine (threads sleep between
parallel regions), so tokkit looks at the machine when the process starts: when the other runnable
tasks and this process's threads fit the available cores, OpenMP keeps its default (spin, then sleep);
otherwise, or when the load cannot be read, it asks for ``OMP_WAIT_POLICY=PASSIVE``. A policy the user
set is never changed. The pools are sized from the cores this process may actually run on (CPU affinity
and the cgroup quota of a container), not from the machine's core count.

The wait policy is read once, when the OpenMP runtime loads with torch: ``configure_threads`` must
run before ``import torch`` to change it, and ``thread_settings`` reports what is in force.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

WAIT_POLICY_DEFAULT = "PASSIVE"
_state: dict[str, Any] = {"threads": None, "source": None, "policy_source": None, "policy": None}


def _cgroup_quota_cores() -> int | None:
    """Cores allowed by a cgroup CPU quota (v2 ``cpu.max``, v1 ``cfs_quota_us``), None when unlimited."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(1, int(int(quota) // int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return max(1, quota // period) if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a container's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota_cores()
    return max(1, min(cores, quota) if quota else cores)


def other_runnable_tasks(samples: int = 5, interval_s: float = 0.002) -> int | None:
    """Runnable tasks besides this one right now: the largest of a few reads of the instantaneous count in
    ``/proc/loadavg`` (its 4th field, ``running/total``, counts the reader too); None where there is none."""
    best = -1
    for i in range(samples):
        try:
            best = max(best, int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]))
        except (OSError, ValueError, IndexError):
            return None
        if i + 1 < samples:
            time.sleep(interval_s)
    return max(0, best - 1)


def _choose_wait_policy(threads: int) -> None:
    """Spin (OpenMP's default) when this process's threads fit beside the tasks already running, else PASSIVE."""
    if "OMP_WAIT_POLICY" in os.environ:
        _state["policy_source"] = "user (OMP_WAIT_POLICY)"
        return
    if "torch" in sys.modules:  # the runtime has read its policy already
        os.environ["OMP_WAIT_POLICY"] = WAIT_POLICY_DEFAULT
        _state["policy_source"] = "too late (torch loaded first)"
        return
    others, cores = other_runnable_tasks(), available_cores()
    if others is not None and others + threads <= cores:
        _state["policy_source"] = f"tokkit: idle at start ({others} other runnable, {threads} threads on {cores} cores)"
        _state["policy"] = "default (spin, then sleep)"
        return
    os.environ["OMP_WAIT_POLICY"] = WAIT_POLICY_DEFAULT
    seen = "load unknown" if others is None else f"{others} other runnable"
    _state["policy_source"] = f"tokkit: busy at start ({seen}, {threads} threads on {cores} cores)"


def _parse_threads(value: Any, where: str) -> int:
    from tokkit.errors import UsageError

    try:
        n = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{where} must be a whole number of threads, got {value!r}") from None
    if n < 1:
        raise UsageError(f"{where} must be at least 1, got {n}")
    return n


def configure_threads(threads: int | None = None) -> dict[str, Any]:
    """Choose the CPU thread settings for this process; returns ``thread_settings()``.

    ``threads``: an explicit count (``--threads N``); else ``$TOKKIT_THREADS``; else the user's
    ``OMP_NUM_THREADS``; else ``available_cores()``. The OpenMP wait policy stays the runtime's default when
    the machine is idle enough at start, else becomes PASSIVE, unless ``OMP_WAIT_POLICY`` is set already (it
    only takes effect if torch is not imported yet)."""
    _state["policy"] = None
    if threads is not None:
        n, source = _parse_threads(threads, "--threads"), "--threads"
    elif os.environ.get("TOKKIT_THREADS"):
        n, source = _parse_threads(os.environ["TOKKIT_THREADS"], "TOKKIT_THREADS"), "TOKKIT_THREADS"
    elif os.environ.get("OMP_NUM_THREADS"):
        n, source = _parse_threads(os.environ["OMP_NUM_THREADS"], "OMP_NUM_THREADS"), "OMP_NUM_THREADS"
    else:
        n, source = available_cores(), "available cores"
    _state["threads"], _state["source"] = n, source
    _choose_wait_policy(n)
    if source != "OMP_NUM_THREADS":
        os.environ["OMP_NUM_THREADS"] = str(n)  # read by torch's pool and OpenBLAS when they load
    apply_threads()
    return thread_settings()


def apply_threads() -> None:
    """Size the pools of the libraries already loaded (torch, numpy's BLAS) to the chosen count."""
    n = _state["threads"]
    if n is None:
        return
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    if "numpy" in sys.modules:
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(n, user_api="blas")
        except Exception:  # noqa: BLE001 - a BLAS threadpoolctl cannot drive keeps its own count
            pass


_BLAS: dict[str, Any] = {}


def one_blas_thread() -> Any:
    """A context manager that runs BLAS on one thread (bit-reproducible linear algebra, no spinning pool).
    The library scan of threadpoolctl is done once per process: a fresh ``threadpool_limits`` re-reads the
    loaded libraries on every call, which cost more than the SVD itself in a bootstrap of small FDs."""
    if "controller" not in _BLAS:
        from threadpoolctl import ThreadpoolController

        _BLAS["controller"] = ThreadpoolController()
    return _BLAS["controller"].limit(limits=1, user_api="blas")


def thread_settings() -> dict[str, Any]:
    """What is in force, for a result's protocol: threads, where the count came from, the wait policy."""
    torch_threads = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
    return {
        "threads": _state["threads"] if _state["threads"] is not None else torch_threads,
        "threads_source": _state["source"] or "library defaults",
        "torch_threads": torch_threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") or _state.get("policy"),
        "omp_wait_policy_source": _state["policy_source"] or "not set by tokkit",
        "available_cores": available_cores(),
    }

"""Thread defaults: a passive OpenMP wait policy on a busy machine unless the user chose one (the
runtime's spinning default when idle at start), a thread count from the cores this process may use,
``--threads`` / ``TOKKIT_THREADS`` over both; torch loads with them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tokkit.errors import UsageError
from tokkit.threads import available_cores

PROBE = """
import json, os, sys
{setup}
from tokkit.threads import configure_threads
settings = configure_threads({threads})
import torch
print(json.dumps({{"settings": settings, "torch": torch.get_num_threads(),
                  "policy": os.environ.get("OMP_WAIT_POLICY"), "omp": os.environ.get("OMP_NUM_THREADS")}}))
"""


def _probe(threads=None, env_extra=None, setup=""):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "TOKKIT_THREADS")}
    env.update(env_extra or {})
    code = PROBE.format(setup=setup, threads=repr(threads))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


BUSY = "import tokkit.threads as T; T.other_runnable_tasks = lambda: {n}"


def test_busy_machine_passive_and_the_available_cores():
    r = _probe(setup=BUSY.format(n=available_cores()))  # every core taken: threads would wait on each other
    assert r["policy"] == "PASSIVE" and r["settings"]["omp_wait_policy_source"].startswith("tokkit: busy at start")
    assert r["torch"] == r["settings"]["threads"] == available_cores()
    assert r["settings"]["threads_source"] == "available cores"
    r = _probe(setup="import tokkit.threads as T; T.other_runnable_tasks = lambda: None")  # load unknown
    assert r["policy"] == "PASSIVE" and "load unknown" in r["settings"]["omp_wait_policy_source"]


def test_idle_machine_keeps_the_spinning_default():
    """Idle at start: OpenMP's own default (spin, then sleep), which is ~13% faster than PASSIVE there."""
    r = _probe(setup=BUSY.format(n=0))
    assert r["policy"] is None and r["settings"]["omp_wait_policy"] == "default (spin, then sleep)"
    assert r["settings"]["omp_wait_policy_source"].startswith("tokkit: idle at start (0 other runnable")


def test_other_runnable_tasks_reads_the_instantaneous_count():
    from tokkit.threads import other_runnable_tasks

    n = other_runnable_tasks(samples=2, interval_s=0.0)
    with open("/proc/loadavg") as f:
        running, total = map(int, f.read().split()[3].split("/"))
    assert n is not None and 0 <= n < total


def test_affinity_limits_the_thread_count():
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs CPU affinity and 2 cores")
    r = _probe(setup="os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})")
    assert r["settings"]["available_cores"] == 1 and r["torch"] == 1


def test_the_users_choices_win():
    r = _probe(env_extra={"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "1"})
    assert r["policy"] == "ACTIVE" and r["settings"]["omp_wait_policy_source"] == "user (OMP_WAIT_POLICY)"
    assert r["torch"] == 1 and r["settings"]["threads_source"] == "OMP_NUM_THREADS"
    r = _probe(env_extra={"TOKKIT_THREADS": "1", "OMP_NUM_THREADS": "2"})
    assert r["torch"] == 1 and r["settings"]["threads_source"] == "TOKKIT_THREADS"
    r = _probe(threads=1, env_extra={"TOKKIT_THREADS": "2"})
    assert r["torch"] == 1 and r["settings"]["threads_source"] == "--threads"


def test_bad_counts_are_usage_errors(monkeypatch):
    from tokkit.threads import configure_threads

    monkeypatch.setenv("TOKKIT_THREADS", "many")
    with pytest.raises(UsageError, match="TOKKIT_THREADS must be a whole number"):
        configure_threads()
    with pytest.raises(UsageError, match="at least 1"):
        configure_threads(0)


def test_cli_threads_option_reaches_torch():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "TOKKIT_THREADS")}
    code = (
        "import sys, json\nfrom tokkit_cli.app import app\n"
        "try:\n    app(['--threads', '1', 'list', 'metrics', '--json'])\nexcept SystemExit:\n    pass\n"
        "from tokkit.threads import thread_settings\nimport torch\n"
        "print(json.dumps([thread_settings()['threads'], torch.get_num_threads()]), file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == [1, 1], proc.stderr


def test_thread_settings_are_in_every_result_protocol(cli, tmp_path, monkeypatch):
    from tests.metrics.helpers import NAMES, registered, save_all
    from tokkit.threads import configure_threads

    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", str(available_cores())))
    request_restore = os.environ["OMP_NUM_THREADS"]
    with registered(NAMES):
        ck = save_all(NAMES, tmp_path)["test-metrics-vq"]
        for sub in ("recon", "stability"):
            r = cli("--threads", "1", "eval", sub, "-t", ck, "-d", "builtin:shapes:n=6,size=16", "--fid-features",
                    "test-pixfeat", "--json") if sub == "recon" else cli(
                    "--threads", "1", "eval", sub, "-t", ck, "-d", "builtin:shapes:n=6,size=16", "--json")  # fmt: skip
            assert r.exit_code == 0, r.stderr
            t = json.loads(r.stdout)["protocol"]["threads"]
            assert t["threads"] == 1 and t["threads_source"] == "--threads" and t["omp_wait_policy"]
    os.environ["OMP_NUM_THREADS"] = request_restore  # the rest of the suite runs with its own count again
    configure_threads()

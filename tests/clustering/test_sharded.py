"""extract and tokenize under torchrun (2 gloo processes on CPU): the store equals the
single-process store bit for bit, and a job killed mid-way (SIGKILL of one rank) resumes to it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from tokkit.io.sharded import missing_batches

DATA = "builtin:photos:n=14,size=32"  # 7 batches of 2: uneven shares (4 + 3)
EXTRACT = ["extract", "--encoder", "effnet-lite0", "--layer", "-1", "--image-size", "32", "--data", DATA]
EXTRACT += ["--batch-size", "2", "--dtype", "float32"]
# same thread count in every process: CPU kernels' float reductions depend on it
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKKIT_NO_PROGRESS": "1"}


def contents(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}, {
            k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.attrs.items()
        }


def assert_same_store(a, b):
    (da, aa), (db, ab) = contents(a), contents(b)
    assert sorted(da) == sorted(db)
    for name in da:
        assert da[name].dtype == db[name].dtype and da[name].tobytes() == db[name].tobytes(), name
    assert aa == ab
    assert aa["complete"] and "written" not in aa


def torchrun(*args, timeout=400):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "tokkit_cli"]
    proc = subprocess.run([*cmd, *map(str, args)], env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The single-process store, by the CLI in its own process (same thread count as the ranks)."""
    d = tmp_path_factory.mktemp("single")
    proc = subprocess.run(
        [sys.executable, "-m", "tokkit_cli", *EXTRACT, "--out", str(d / "one.h5"), "--json"],
        env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return d / "one.h5"


def test_missing_batches_and_shares():
    assert missing_batches(10, 3, []) == [0, 1, 2, 3]
    assert missing_batches(10, 3, [[0, 3], [6, 10]]) == [1]  # the last batch is short
    assert missing_batches(10, 3, [[0, 4]]) == [1, 2, 3]  # a partly written batch is recomputed whole
    assert missing_batches(10, 3, [[0, 10]]) == []


def test_torchrun_extract_equals_single_process(single, tmp_path):
    proc = torchrun(*EXTRACT, "--out", tmp_path / "two.h5", "--json")
    assert len(proc.stdout.strip().splitlines()) == 1  # one JSON object, from rank 0
    assert json.loads(proc.stdout)["num_images"] == 14
    assert_same_store(single, tmp_path / "two.h5")


RANK_SCRIPT = """
import os, signal, sys
import tokkit.io.sharded as sharded
from tokkit.encoders.extract import extract_features

real = sharded.Shard.put
calls = {"n": 0}

def put(self, start, arrays):
    calls["n"] += 1
    if self.rank == 1 and calls["n"] == 2:  # rank 1 dies hard with its 2nd batch computed, unsent
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, start, arrays)

sharded.Shard.put = put
extract_features("effnet-lite0", sys.argv[2], sys.argv[1], layer=-1, image_size=32, batch_size=2, dtype="float32")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kill_one_rank_then_resume_gives_the_single_process_store(single, tmp_path):
    out = tmp_path / "killed.h5"
    env = {**ENV, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RANK_SCRIPT, str(out), DATA],
            env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for r in range(2)
    ]
    try:
        procs[1].wait(timeout=300)
        assert procs[1].returncode == -signal.SIGKILL
        # rank 0 is left waiting for rank 1 (or fails on the closed connection); torchrun would stop it
        try:
            procs[0].wait(timeout=20)
        except subprocess.TimeoutExpired:
            procs[0].kill()
            procs[0].wait()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    with h5py.File(out, "r") as f:
        assert not f.attrs["complete"]
        written = json.loads(f.attrs["written"][5:])
    # step 1 was written (rank 0's batch 0, rank 1's first batch, 4), nothing after it
    assert written == [[0, 2], [8, 10]]
    proc = torchrun(*EXTRACT, "--out", out, "--resume", "--json")
    assert json.loads(proc.stdout)["resumed_from"] == 4
    assert_same_store(single, out)
    # a resume of the complete store, in one process, computes nothing and changes nothing
    from tokkit.encoders.extract import extract_features

    r = extract_features("effnet-lite0", DATA, out, layer=-1, image_size=32, batch_size=2, dtype="float32", resume=True)
    assert r.resumed_from == 14
    assert_same_store(single, out)


TOKENIZE_SCRIPT = """
import sys
from tokkit.clustering.tokenize import tokenize
km, feats, out = sys.argv[1:4]
tokenize(km, out + "-f.h5", features=feats, chunk_rows=3)
tokenize(km, out + "-d.h5", data=sys.argv[4], batch_size=2)
"""


def test_sharded_tokenize_features_and_images_equal_single_process(single, tmp_path):
    import torch

    from tokkit.clustering.fit import fit_kmeans
    from tokkit.clustering.tokenize import tokenize

    fit_kmeans(6, tmp_path / "km", features=single, niter=3, init="random")
    km = str(tmp_path / "km")
    tokenize(km, tmp_path / "one-f.h5", features=single, chunk_rows=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the ranks: the encoder's features are then the same floats
    try:
        tokenize(km, tmp_path / "one-d.h5", data=DATA, batch_size=2)
    finally:
        torch.set_num_threads(threads)
    env = {**ENV, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2"}
    args = [sys.executable, "-c", TOKENIZE_SCRIPT, km, str(single), str(tmp_path / "two"), DATA]
    procs = [
        subprocess.Popen(args, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stderr=subprocess.PIPE, text=True)
        for r in range(2)
    ]
    t0 = time.time()
    for p in procs:
        _, err = p.communicate(timeout=max(1, 300 - (time.time() - t0)))
        assert p.returncode == 0, err[-3000:]
    assert_same_store(tmp_path / "one-f.h5", tmp_path / "two-f.h5")
    assert_same_store(tmp_path / "one-d.h5", tmp_path / "two-d.h5")
    tokens, attrs = contents(tmp_path / "two-f.h5")
    assert tokens["tokens"].shape == (14, 1, 1) and attrs["grid"] == [1, 1]

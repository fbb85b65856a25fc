"""eval recon and eval stats under torchrun (2 gloo processes on CPU): every image measured exactly once
(an odd number of images, uneven shares), and the JSON / file equal to one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tokkit.metrics.fid import StatsAccumulator, merge_accumulators
from tokkit.metrics.shards import share

DATA = "builtin:photos:n=9,size=64"  # 5 batches of 2 (the last one short): shares of 3 and 2 batches
# same thread count in every process: CPU kernels' float reductions depend on it
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKKIT_NO_PROGRESS": "1"}


@pytest.mark.parametrize("n,batch,world", [(9, 2, 2), (10, 3, 4), (1, 4, 3), (50_000, 16, 8), (7, 7, 2)])
def test_shares_cover_every_row_once_at_batch_boundaries(n, batch, world):
    shares = [share(n, batch, r, world) for r in range(world)]
    rows = [i for a, b in shares for i in range(a, b)]
    assert rows == list(range(n))  # contiguous, in order, no padding, no repeat
    assert all(a % batch == 0 for a, b in shares if b > a)  # batches at the single-process boundaries
    sizes = [-(-(b - a) // batch) for a, b in shares]
    assert max(sizes) - min(sizes) <= 1


def test_merged_accumulators_equal_one_pass():
    g = np.random.default_rng(0)
    feats = g.normal(5.0, 2.0, (23, 6))
    one = StatsAccumulator(keep_features=True)
    one.add(feats)
    parts = []
    for a, b in [(0, 10), (10, 10), (10, 23)]:  # an empty share too
        acc = StatsAccumulator(keep_features=True)
        if b > a:  # a rank with no rows sends an empty accumulator
            acc.add(feats[a:b])
        parts.append(acc)
    s1, s2 = one.stats(), merge_accumulators(parts).stats()
    np.testing.assert_allclose(s2.mu, s1.mu, rtol=1e-12)
    np.testing.assert_allclose(s2.sigma, s1.sigma, rtol=1e-10, atol=1e-12)
    assert s2.n == 23 and np.array_equal(s2.features, s1.features)


def run(args, nproc, timeout=300):
    launch = [sys.executable, "-m", "tokkit"]
    if nproc > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
        launch += ["-m", "tokkit"]
    proc = subprocess.run([*launch, *map(str, args)], env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A random-weight vqgan-tiny checkpoint and random AlexNet weights (LPIPS is measured too)."""
    import torchvision

    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.losses.perceptual import ALEXNET_FILE
    from tokkit.tokenizers import create_tokenizer

    d = tmp_path_factory.mktemp("torchrun-eval")
    torch.manual_seed(0)
    save_checkpoint(create_tokenizer("vqgan-tiny"), d / "vq")
    torch.save(torchvision.models.alexnet().state_dict(), d / ALEXNET_FILE)
    return d


def test_torchrun_eval_recon_equals_one_process(setup):
    from tokkit.losses.perceptual import ALEXNET_FILE

    args = ["eval", "recon", "-t", setup / "vq", "-d", DATA, "--image-size", "64", "--batch-size", "2",
            "--fid-features", "pixels", "--lpips-weights", setup / ALEXNET_FILE, "--no-cache", "--json"]  # fmt: skip
    one, two = json.loads(run(args, 1)), json.loads(run(args, 2))  # rank 1 prints nothing: one JSON object
    assert two["protocol"]["num_images"] == two["n"] == 9 and two["protocol"]["processes"] == 2
    for key in ("psnr", "ssim", "lpips"):
        assert one[key] is not None and abs(two[key] - one[key]) <= 1e-9, key
        np.testing.assert_allclose(two[f"{key}_ci"], one[f"{key}_ci"], rtol=0, atol=1e-9)
    assert abs(two["rfid"] - one["rfid"]) <= 1e-6 * one["rfid"] and one["rfid"] > 0
    assert abs(two["kid"] - one["kid"]) <= 1e-6 * abs(one["kid"]) + 1e-12
    assert two["usage"] == one["usage"]  # code counts summed over the shares
    strip = ("processes", "threads")
    assert {k: v for k, v in two["protocol"].items() if k not in strip} == {
        k: v for k, v in one["protocol"].items() if k not in strip
    }


def assert_same_numbers(a, b, path="", rtol=1e-9):
    """Every number of ``b`` equal to ``a``'s within ``rtol`` (relative, 1e-12 absolute floor), all else equal."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), path
        for k in a:
            assert_same_numbers(a[k], b[k], f"{path}.{k}", rtol)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_numbers(x, y, f"{path}[{i}]", rtol)
    elif isinstance(a, float) and not isinstance(a, bool):
        assert isinstance(b, float) and abs(a - b) <= rtol * abs(a) + 1e-12, (path, a, b)
    else:
        assert a == b, (path, a, b)


SCRIPT = Path(__file__).with_name("torchrun_evals.py")


def run_script(ckpt, out, nproc, timeout=300):
    launch = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                  "--nproc_per_node", str(nproc)]  # fmt: skip
    proc = subprocess.run([*launch, str(SCRIPT), str(ckpt), str(out)], env=ENV, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)  # rank 1 prints nothing: one JSON object


def test_torchrun_stats_latent_generation_and_compare_equal_one_process(setup, tmp_path):
    """eval stats, eval latent, eval generation (seeds 0 and 1 on ranks 0 and 1) and eval compare in one group of 2
    against one process: 15 images in batches of 4 (shares of 2 and 2 batches, the last one short)."""
    one, two = run_script(setup / "vq", tmp_path / "one.npz", 1), run_script(setup / "vq", tmp_path / "two.npz", 2)
    with np.load(tmp_path / "one.npz") as a, np.load(tmp_path / "two.npz") as b:
        assert int(a["n"]) == int(b["n"]) == 15
        np.testing.assert_allclose(b["mu"], a["mu"], rtol=1e-12)
        np.testing.assert_allclose(b["sigma"], a["sigma"], rtol=1e-9, atol=1e-12)
    assert one["latent"]["rfid"] is not None and one["latent"]["interp_fid"] is not None
    gen = one["generation"]
    assert gen["gfid"] is not None and len(gen["gfid_seeds"]) == 2 and gen["gfid_seeds"][0] != gen["gfid_seeds"][1]
    for name in ("stats", "latent", "generation"):
        assert two[name]["protocol"]["processes"] == 2 and two[name]["protocol"]["num_images"] == 15, name
        for r in (one[name], two[name]):
            for k in ("processes", "threads"):
                r["protocol"].pop(k, None)
            r.pop("out", None)
        assert_same_numbers(one[name], two[name], name, rtol=1e-6)  # FDs to 1e-6; means far closer
    # eval compare: its recon / latent / generation passes shared out, stability on every rank, rank 0 writes
    rows = [[{k: v for k, v in r.items() if k != "threads"} for r in x["compare"]] for x in (one, two)]
    assert_same_numbers(rows[0], rows[1], "compare", 1e-6)

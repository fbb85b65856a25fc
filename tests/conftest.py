"""Shared fixtures: a CLI runner with separate stdout/stderr, image folders with bad files."""

from __future__ import annotations

import os

from tokkit.threads import available_cores, configure_threads

# pytest-xdist's workers share the cores: each gets cores // workers threads (TOKKIT_THREADS, which the
# processes a test starts inherit). Its workers also get COLUMNS=80; the CLI's tables are checked at the
# width a pipe gets, as in one process.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1 and "TOKKIT_THREADS" not in os.environ:
    os.environ["TOKKIT_THREADS"] = str(max(1, available_cores() // _WORKERS))
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)

# before torch loads: passive OpenMP waits and the available cores, as the CLI does (the suite
# slowed 10x and more on a machine that was doing anything else)
configure_threads()

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

os.environ.setdefault("TOKKIT_NO_PROGRESS", "1")
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: one worker per available core, at most 4 (each holds its own session fixtures)."""
    return max(1, min(4, available_cores()))


@pytest.fixture
def cli():
    """Run the tokkit app in-process; returns typer's Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from tokkit_cli.app import app

    runner = CliRunner()

    def run(*args: str, env: dict | None = None):
        return runner.invoke(app, [str(a) for a in args], env=env)

    return run


def write_rgb(path: Path, h: int, w: int, seed: int = 0, fmt: str | None = None) -> np.ndarray:
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)
    return arr


@pytest.fixture
def messy_folder(tmp_path: Path) -> Path:
    """A folder with good images of several modes and every kind of bad file."""
    root = tmp_path / "imgs"
    write_rgb(root / "a.png", 40, 50, 1)
    write_rgb(root / "sub" / "b.jpg", 64, 48, 2)
    write_rgb(root / "sub" / "deeper" / "c.webp", 30, 30, 3)
    write_rgb(root / "d.bmp", 33, 35, 4)
    write_rgb(root / "e.tif", 20, 24, 5)
    Image.fromarray(np.full((32, 32), 200, np.uint8), "L").save(root / "gray.png")
    Image.new("CMYK", (28, 30), (0, 255, 255, 0)).save(root / "cmyk.jpg")
    Image.fromarray(np.full((16, 18), 65535, np.uint16)).save(root / "deep16.png")
    Image.new("RGBA", (20, 20), (255, 0, 0, 128)).save(root / "alpha.png")
    Image.new("P", (22, 22), 3).save(root / "palette.png")
    # the bad ones
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("this is not an image\n")
    good = root / "sub" / "b.jpg"
    (root / "truncated.jpg").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    (root / "notes.txt").write_text("ignored: not an image extension")
    return root


GOOD_IN_MESSY = 10
BAD_IN_MESSY = ("empty.png", "text.png", "truncated.jpg")


@pytest.fixture(autouse=True)
def _no_user_weights_or_caches(tmp_path_factory, monkeypatch):
    """Tests never see the developer's weight files or caches: what a test needs, it writes."""
    home = tmp_path_factory.mktemp("isolated")
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("TOKKIT_CACHE_DIR", str(home / "tokkit-cache"))
    monkeypatch.setenv("TOKKIT_OFFLINE", "1")
    monkeypatch.delenv("TOKKIT_WEIGHTS_DIR", raising=False)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No download, no hub/torch cache, an empty TOKKIT_WEIGHTS_DIR (returned)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "weights").mkdir()
    monkeypatch.setenv("TOKKIT_WEIGHTS_DIR", str(tmp_path / "weights"))
    return tmp_path / "weights"

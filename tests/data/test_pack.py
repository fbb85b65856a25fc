import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from tokkit.data.pack import pack_images
from tokkit.data.sources import open_source
from tokkit.data.transforms import eval_crop
from tokkit.errors import StoreError, UsageError
from tokkit.io.h5store import StoreWriter


def read_all(path):
    with h5py.File(path, "r") as f:
        return f["images"][:], dict(f.attrs)


def test_pack_writes_eval_crops(tmp_path, messy_folder):
    out = tmp_path / "s.h5"
    res = pack_images(str(messy_folder), out, 24, chunk_rows=4)
    imgs, attrs = read_all(out)
    src = open_source(str(messy_folder))
    assert imgs.shape == (len(src), 24, 24, 3) and imgs.dtype == np.uint8
    for i in range(len(src)):
        np.testing.assert_array_equal(imgs[i], eval_crop(src.read(i), 24))
    assert attrs["complete"] and attrs["committed"] == len(src) and res.num_unreadable == 3


def test_pack_store_is_a_data_source(tmp_path):
    out = tmp_path / "s.h5"
    pack_images("builtin:shapes:n=5,size=20", out, 16)
    src = open_source(str(out))
    assert src.kind == "hdf5" and len(src) == 5 and src.read(4).shape == (16, 16, 3)


def test_existing_file_needs_resume_or_overwrite(tmp_path):
    out = tmp_path / "s.h5"
    pack_images("builtin:shapes:n=3", out, 16)
    with pytest.raises(UsageError, match="--resume"):
        pack_images("builtin:shapes:n=3", out, 16)
    pack_images("builtin:shapes:n=4", out, 16, overwrite=True)
    assert read_all(out)[0].shape[0] == 4
    with pytest.raises(UsageError, match="image_size"):
        pack_images("builtin:shapes:n=4", out, 8, resume=True)


def test_interrupted_pack_resumes_to_identical_content(tmp_path, monkeypatch):
    spec = "builtin:photos:n=23,size=40"
    pack_images(spec, tmp_path / "full.h5", 32, chunk_rows=5)

    real_write, calls = StoreWriter.write, {"n": 0}

    def crashing_write(self, start, arrays, attrs=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # dies while writing the third chunk
        real_write(self, start, arrays, attrs)

    monkeypatch.setattr(StoreWriter, "write", crashing_write)
    with pytest.raises(KeyboardInterrupt):
        pack_images(spec, tmp_path / "cut.h5", 32, chunk_rows=5)
    monkeypatch.setattr(StoreWriter, "write", real_write)
    with h5py.File(tmp_path / "cut.h5", "r") as f:
        assert f.attrs["committed"] == 10 and not f.attrs["complete"]
    with pytest.raises(StoreError, match="incomplete"):
        open_source(str(tmp_path / "cut.h5"))
    res = pack_images(spec, tmp_path / "cut.h5", 32, chunk_rows=5, resume=True)
    assert res.resumed_from == 10
    full, cut = read_all(tmp_path / "full.h5"), read_all(tmp_path / "cut.h5")
    np.testing.assert_array_equal(full[0], cut[0])
    assert cut[1]["complete"]


def test_killed_process_resumes_to_identical_content(tmp_path):
    """A real SIGKILL of `tokkit data pack` part-way through, then --resume."""
    spec = "builtin:photos:n=1500,size=72"
    env = {**os.environ, "TOKKIT_NO_PROGRESS": "1", "HDF5_USE_FILE_LOCKING": "FALSE"}
    cmd = [sys.executable, "-m", "tokkit_cli", "data", "pack", spec, "--image-size", "64", "--chunk", "8"]
    proc = subprocess.Popen([*cmd, "--out", str(tmp_path / "cut.h5")], env=env)
    # chunks are allocated as they are written: a file past ~4 chunks of pixels has committed rows
    cut, deadline = tmp_path / "cut.h5", time.time() + 120
    while (not cut.exists() or cut.stat().st_size < 4 * 8 * 64 * 64 * 3) and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with h5py.File(cut, "r") as f:
        committed, complete = int(f.attrs["committed"]), bool(f.attrs["complete"])
    assert not complete and 0 < committed < 1500, (committed, complete)  # the kill landed mid-way
    r = subprocess.run([*cmd, "--out", str(cut), "--resume", "--json"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["resumed_from"] == committed
    subprocess.run([*cmd, "--out", str(tmp_path / "full.h5")], check=True, env=env, capture_output=True)
    np.testing.assert_array_equal(read_all(tmp_path / "full.h5")[0], read_all(cut)[0])


def test_pack_cli_json(cli, tmp_path):
    import json

    r = cli("data", "pack", "builtin:shapes:n=6,size=20", "--out", tmp_path / "p.h5", "--image-size", "16", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["num_images"] == 6
    r = cli("data", "pack", "builtin:shapes:n=6", "--out", tmp_path / "p.h5", "--resume", "--overwrite")
    assert r.exit_code == 2


def test_not_a_tokkit_store(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["images"] = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(StoreError, match="not a tokkit store"):
        open_source(str(tmp_path / "x.h5"))
    (tmp_path / "y.h5").write_bytes(b"junk")
    with pytest.raises(StoreError, match="not a readable HDF5"):
        open_source(str(tmp_path / "y.h5"))


def test_store_writer_handles_zero_rows(tmp_path):
    with StoreWriter(tmp_path / "e.h5", "token", 0, {"tokens": ((2, 2), np.int16)}, {"x": 1}) as w:
        w.finish()
    with h5py.File(tmp_path / "e.h5", "r") as f:
        assert f["tokens"].shape == (0, 2, 2) and f.attrs["complete"]

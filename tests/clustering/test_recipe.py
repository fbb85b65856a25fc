"""The README's DiGIT recipe at small size, line by line: extract -> fit-kmeans -> tokenize on a tiny
folder with class subfolders, and features saved by another tool (np.save) through --features."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import h5py
import numpy as np

from tests.conftest import write_rgb

README = Path(__file__).resolve().parents[2] / "README.md"


def recipe_lines() -> list[list[str]]:
    text = README.read_text()
    block = text.split("The same sequence at small size", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [shlex.split(line) for line in block.strip().splitlines()]
    assert lines and all(words[0] == "tokkit" for words in lines)
    return [words[1:] for words in lines]


def test_readme_recipe_runs_at_small_size(cli, tmp_path, monkeypatch):
    for i in range(6):  # two classes, images of several sizes
        write_rgb(tmp_path / "imgs" / "n01440764" / f"img{i}.jpg", 20 + i, 18, seed=i)
        write_rgb(tmp_path / "imgs" / "n01443537" / f"img{i}.png", 16, 24 + i, seed=20 + i)
    (tmp_path / "imgs" / "n01443537" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "my_feats.npy", rng.normal(size=(40, 16, 12)).astype(np.float32))  # from another tool
    monkeypatch.chdir(tmp_path)
    outputs = []
    for args in recipe_lines():
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)
        outputs.append(r.stdout)
    info = json.loads(outputs[0])
    assert info["num_images"] == 12 and info["num_skipped"] == 1 and info["num_classes"] == 2
    with h5py.File(tmp_path / "feats.h5", "r") as f, h5py.File(tmp_path / "tokens.h5", "r") as t:
        assert f["features"].shape == (12, 16, 48) and f["labels"][:].tolist() == [0] * 6 + [1] * 6
        assert t["tokens"].shape == (12, 4, 4) and t["labels"][:].tolist() == [0] * 6 + [1] * 6
        with h5py.File(tmp_path / "tokens_from_feats.h5", "r") as tf:
            np.testing.assert_array_equal(tf["tokens"][:], t["tokens"][:])  # images and features agree
    assert json.loads(outputs[5])["grid"] == [4, 4]
    with h5py.File(tmp_path / "tokens_npy.h5", "r") as t:
        assert t["tokens"].shape == (40, 4, 4) and int(t["tokens"][:].max()) < 8

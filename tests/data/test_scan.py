"""Header-only folder scan: files that do not decode are skipped at read time, the same ones on every
run and on resume, counted and named in the output and the store; class subfolders become labels."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tests.conftest import write_rgb
from tokkit.io.h5store import StoreWriter

ENC = ["--encoder", "pixels", "--layer", "4", "--image-size", "8"]


@pytest.fixture
def classes_folder(tmp_path):
    """cat/ (5 images), dog/ (5 images + a truncated JPEG), bird/ (a non-image): 10 images decode."""
    root = tmp_path / "imgs"
    for i in range(5):
        write_rgb(root / "cat" / f"c{i}.png", 12 + i, 10, seed=i)
        write_rgb(root / "dog" / f"d{i}.jpg", 10, 12 + i, seed=10 + i)
    write_rgb(tmp_path / "big.jpg", 64, 64, seed=99)
    good = (tmp_path / "big.jpg").read_bytes()
    (root / "dog" / "d2_cut.jpg").write_bytes(good[: len(good) * 2 // 3])  # header fine, pixels missing
    (root / "bird").mkdir()
    (root / "bird" / "note.png").write_text("not an image")
    return root


def _store(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in f}, {k: f.attrs[k] for k in f.attrs}


def _same(a, b, skip=()):
    (da, aa), (db, ab) = a, b
    assert da.keys() == db.keys()
    for k in da:
        np.testing.assert_array_equal(da[k], db[k], err_msg=k)
    for k in set(aa) | set(ab):
        if k not in skip:
            assert str(aa.get(k)) == str(ab.get(k)), k


def test_header_scan_lists_without_decoding(classes_folder):
    from tokkit.data import iter_batches, open_source

    src = open_source(str(classes_folder), verify=False)
    assert len(src) == 11 and not src.verified  # the truncated JPEG's header reads
    assert [u.path.rsplit("/", 1)[-1] for u in src.unreadable] == ["note.png"]
    labels, classes = src.labels()
    assert classes == ["cat", "dog"] and labels.tolist() == [0] * 5 + [1] * 6
    rows = np.concatenate([idx.numpy() for _, _, idx in iter_batches(src, 8, 4, num_workers=0)])
    cut = [i for i in range(len(src)) if src.name(i).endswith("d2_cut.jpg")]
    assert rows.tolist() == [i for i in range(11) if i not in cut]
    assert list(src.skipped) == cut and "d2_cut.jpg" in src.skipped[cut[0]].path
    verified = open_source(str(classes_folder), verify=True)
    assert len(verified) == 10 and verified.verified and len(verified.unreadable) == 2


def test_extract_skips_names_and_labels(cli, tmp_path, classes_folder):
    r = cli("extract", *ENC, "--data", classes_folder, "--out", tmp_path / "f.h5", "--batch-size", "4", "--json")
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["num_images"] == 10 and res["num_skipped"] == 2
    assert sorted(p.rsplit("/", 1)[-1] for p in res["skipped"]) == ["d2_cut.jpg", "note.png"]
    data, attrs = _store(tmp_path / "f.h5")
    assert data["features"].shape == (10, 4, 48) and attrs["complete"] and attrs["num_rows"] == 10
    assert json.loads(attrs["classes"][5:]) == ["cat", "dog"] and data["labels"].tolist() == [0] * 5 + [1] * 5
    assert attrs["num_skipped"] == 2 and not attrs["verified"]
    assert data["image_index"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 9, 10]  # dog/d2_cut.jpg is image 8
    # --verify decodes first: the same rows, the same features; only the row->image numbering differs
    r = cli("extract", *ENC, "--data", classes_folder, "--out", tmp_path / "v.h5", "--batch-size", "4", "--verify")
    assert r.exit_code == 0, r.stderr
    vdata, vattrs = _store(tmp_path / "v.h5")
    np.testing.assert_array_equal(vdata["features"], data["features"])
    np.testing.assert_array_equal(vdata["labels"], data["labels"])
    assert vattrs["num_skipped"] == 2 and vattrs["verified"]
    # the feature store's labels travel into the token store
    assert cli("fit-kmeans", "--features", tmp_path / "f.h5", "--k", "3", "--out", tmp_path / "km").exit_code == 0
    r = cli("tokenize", "--tokenizer", tmp_path / "km", "--features", tmp_path / "f.h5", "--out", tmp_path / "t.h5")
    assert r.exit_code == 0, r.stderr
    tdata, tattrs = _store(tmp_path / "t.h5")
    np.testing.assert_array_equal(tdata["labels"], data["labels"])
    np.testing.assert_array_equal(tdata["image_index"], data["image_index"])
    assert json.loads(tattrs["classes"][5:]) == ["cat", "dog"]
    # tokenize --data over the folder: the same tokens, the same skips
    r = cli("tokenize", "--tokenizer", tmp_path / "km", "--data", classes_folder, "--out", tmp_path / "t2.h5",
            "--batch-size", "4", "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["num_skipped"] == 2
    t2, _ = _store(tmp_path / "t2.h5")
    np.testing.assert_array_equal(t2["tokens"], tdata["tokens"])
    np.testing.assert_array_equal(t2["labels"], tdata["labels"])
    # fit-kmeans straight from the folder reports the skips too
    r = cli("fit-kmeans", *ENC, "--data", classes_folder, "--k", "3", "--out", tmp_path / "km2", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["num_skipped"] == 2


def test_resume_after_a_kill_skips_the_same_files(tmp_path, classes_folder, monkeypatch):
    from tokkit.data.pack import pack_images
    from tokkit.encoders.extract import extract_features

    def run_extract(out, **kw):
        return extract_features("pixels", str(classes_folder), out, layer=4, image_size=8, batch_size=3,
                                dtype="float32", num_workers=0, **kw)  # fmt: skip

    def run_pack(out, **kw):
        return pack_images(str(classes_folder), out, 8, chunk_rows=3, **kw)

    for run in (run_extract, run_pack):
        run(tmp_path / f"{run.__name__}-full.h5")
        real, state = StoreWriter.write, {"n": 0}

        def dying(self, start, arrays, attrs=None, real=real, state=state):
            if state["n"] == 3:  # killed on the 4th batch: after the skipped file's batch (images 6-8)
                raise KeyboardInterrupt
            state["n"] += 1
            return real(self, start, arrays, attrs)

        monkeypatch.setattr(StoreWriter, "write", dying)
        with pytest.raises(KeyboardInterrupt):
            run(tmp_path / f"{run.__name__}-cut.h5")
        monkeypatch.setattr(StoreWriter, "write", real)
        res = run(tmp_path / f"{run.__name__}-cut.h5", resume=True)
        assert res.resumed_from == 9 and res.num_skipped == 2
        _same(_store(tmp_path / f"{run.__name__}-full.h5"), _store(tmp_path / f"{run.__name__}-cut.h5"))


def test_packed_store_keeps_labels(cli, tmp_path, classes_folder):
    from tokkit.data import open_source

    r = cli("data", "pack", classes_folder, "--out", tmp_path / "p.h5", "--image-size", "8", "--json")
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["num_images"] == 10 and res["num_skipped"] == 2 and res["num_unreadable"] == 2
    src = open_source(str(tmp_path / "p.h5"))
    labels, classes = src.labels()
    assert len(src) == 10 and classes == ["cat", "dog"] and labels.tolist() == [0] * 5 + [1] * 5
    r = cli("extract", *ENC, "--data", tmp_path / "p.h5", "--out", tmp_path / "f.h5")
    assert r.exit_code == 0, r.stderr
    data, _ = _store(tmp_path / "f.h5")
    np.testing.assert_array_equal(data["labels"], labels)
    info = json.loads(cli("data", "info", classes_folder, "--json").stdout)
    assert info["num_classes"] == 2 and info["num_images"] == 11 and info["num_skipped"] == 1

"""``tokkit import`` on the command line, and imported checkpoints through other commands unchanged."""

from __future__ import annotations

import json

import pytest

from tests.importers.fixtures_vq import IMAGE_SIZE, SOURCES, imported

DATA = f"builtin:shapes:n=4,size={IMAGE_SIZE}"


def _json(result):
    assert result.exit_code == 0, result.stderr or result.stdout
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_list(cli):
    r = _json(cli("import", "--list", "--json"))
    fams = {f["family"]: f for f in r["families"]}
    assert {"var", "llamagen", "taming"} <= set(fams)
    assert "vae_ch160v4096z32" in fams["var"]["published_names"] and "last.ckpt" in fams["taming"]["expects"]
    out = cli("import", "--list")
    assert out.exit_code == 0 and "llamagen" in out.stdout and "becomes" in out.stdout


def test_import_json_and_table(cli, tmp_path):
    r = _json(cli("import", "var", SOURCES["var"], "--out", tmp_path / "v", "--json"))
    assert r["architecture"] == "msvq" and r["kind"] == "multiscale" and r["upstream"]["commit"] == "78b9539"
    assert r["source_files"][0]["name"] == "vae_tiny.pth" and r["dropped"] == ["quantize.ema_vocab_hit_SV"]
    out = cli("import", "taming", SOURCES["taming"], "--out", tmp_path / "t")
    assert out.exit_code == 0 and "CompVis/taming-transformers" in out.stdout and "loss.*" in out.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["var", SOURCES["taming"] / "ckpts" / "last.ckpt"], 1, "is a 'taming' checkpoint"),
        (["llamagen", SOURCES["llamagen"], "--sample"], 2, "takes no --sample"),
        (["vaar", SOURCES["var"]], 2, "did you mean 'var'"),
        (["var"], 2, "give FAMILY SRC --out DIR"),
    ],
)
def test_bad_input_is_one_line(cli, tmp_path, args, code, message):
    out = cli("import", *args, "--out", tmp_path / "o")
    assert out.exit_code == code and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_eval_recon_on_imported_var(cli, tmp_path):
    ckpt = imported("var", tmp_path / "var")
    r = _json(cli("eval", "recon", "-t", ckpt, "-d", DATA, "--image-size", IMAGE_SIZE, "--fid-features", "pixels",
                  "--json"))  # fmt: skip
    assert len(r["usage"]["per_scale"]) == 10 and r["protocol"]["num_images"] == 4
    assert r["psnr"] > 0


def test_inspect_codebook_on_imported_llamagen(cli, tmp_path):
    ckpt = imported("llamagen", tmp_path / "ll")
    r = _json(cli("inspect", "codebook", ckpt, "-d", DATA, "--image-size", IMAGE_SIZE, "--json"))
    assert r["codebook_size"] == 64 and r["dim"] == 8
    assert abs(r["norm"]["mean"] - 1.0) < 1e-5  # LlamaGen's codes are unit vectors


def test_tokenize_imported_llamagen(cli, tmp_path):
    import h5py
    import torch

    from tokkit.data import iter_batches, open_source
    from tokkit.io.checkpoint import load_tokenizer

    ckpt = imported("llamagen", tmp_path / "ll")
    r = _json(cli("tokenize", "-t", ckpt, "-d", DATA, "--image-size", IMAGE_SIZE, "--out", tmp_path / "t.h5", "--json"))
    assert r["grid"] == [16, 16] and r["codebook_size"] == 64
    tok = load_tokenizer(ckpt)
    _, images, _ = next(iter(iter_batches(open_source(DATA), IMAGE_SIZE, 4)))
    with h5py.File(tmp_path / "t.h5") as f, torch.no_grad():
        assert (f["tokens"][:] == tok.encode(images).indices.numpy()).all()
    out = cli("tokenize", "-t", imported("var", tmp_path / "v"), "-d", DATA, "--out", tmp_path / "v.h5")
    assert out.exit_code == 2 and "multiscale" in out.stderr

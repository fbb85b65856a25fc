"""``tokkit inspect codebook``: JSON keys, numbers against direct computation, report files, browser check."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.analysis.browser import chromium_binary, probe_page
from tokkit.data import iter_batches, open_source
from tokkit.io.checkpoint import load_tokenizer
from tokkit.metrics.usage import codebook_usage

DATA = "builtin:photos:n=12,size=32"
KEYS = {"codebook_size", "dim", "norm", "nearest_neighbor", "near_duplicates", "usage"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> tuple[int, int]:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC, path
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.width > 100 and im.height > 100
        return im.size


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs: list[str] = []
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        for key in ("src", "href"):
            v = a.get(key)
            if v and not v.startswith("data:"):
                self.external.append(v)


def assert_html(path: Path, expected_images: int) -> _Page:
    text = Path(path).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    page = _Page()
    page.feed(text)
    assert page.external == []  # self-contained
    assert len(page.imgs) == expected_images
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    return page


def direct_counts(ckpt: Path, size: int) -> list[np.ndarray]:
    """Usage computed without tokkit.analysis: encode every image, bincount per scale."""
    tok = load_tokenizer(ckpt)
    per_scale = None
    with torch.no_grad():
        for _, x, _ in iter_batches(open_source(DATA), size, 5):
            maps = tok.encode(x).index_maps()
            per_scale = per_scale or [np.zeros(tok.codebook_size, np.int64) for _ in maps]
            for s, m in enumerate(maps):
                per_scale[s] += np.bincount(m.reshape(-1).numpy(), minlength=tok.codebook_size)
    return per_scale


def test_json_without_data(cli, ckpts):
    r = cli("inspect", "codebook", ckpts["discrete"], "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert KEYS <= set(out)
    assert out["usage"] is None and out["codebook_size"] == 32 and out["dim"] == 48
    codes = load_tokenizer(ckpts["discrete"]).codebook.double()
    assert out["norm"]["mean"] == pytest.approx(float(codes.norm(dim=1).mean()), rel=1e-6)
    d = torch.cdist(codes, codes).fill_diagonal_(float("inf")).min(1).values
    assert out["nearest_neighbor"]["max"] == pytest.approx(float(d.max()), rel=1e-6)
    # the test codebook has code 1 == code 0
    assert out["near_duplicates"]["pairs"] == 1
    assert out["near_duplicates"]["closest_pairs"][0] == {"a": 0, "b": 1, "distance": 0.0}
    assert out["files"] == {}


def test_discrete_report_with_data(cli, ckpts, tmp_path):
    out_dir = tmp_path / "report"
    r = cli("inspect", "codebook", ckpts["discrete"], "--data", DATA, "--image-size", 16, "--out", out_dir, "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert KEYS <= set(out)
    counts = direct_counts(ckpts["discrete"], 16)[0]
    ref = codebook_usage(np.repeat(np.arange(32), counts), 32)
    u = out["usage"]
    for key in ("utilization", "perplexity", "entropy_bits", "dead_codes", "num_tokens"):
        assert u[key] == pytest.approx(ref[key]), key
    assert u["num_tokens"] == 12 * 4 * 4
    assert u["most_used"][0]["code"] == int(np.argmax(counts))
    assert u["most_used"][0]["count"] == int(counts.max())
    names = {"usage", "umap", "gallery", "tokens", "codebook"}
    assert set(out["files"]) == names | {"report"}
    for name in names:
        assert_png(out_dir / f"{name}.png")
    assert_html(out_dir / "report.html", len(names))
    # the terminal view says the same things in words
    r = cli("inspect", "codebook", ckpts["discrete"], "--data", DATA, "--image-size", 16)
    assert r.exit_code == 0, r.stderr
    for word in ("utilization", "perplexity", "dead codes", "most used", "least used", "near duplicates"):
        assert word in r.stdout


@pytest.fixture(scope="module")
def multiscale_report(ckpts, tmp_path_factory):
    from tokkit.analysis import inspect_codebook

    out = tmp_path_factory.mktemp("ms_report")
    return inspect_codebook(ckpts["multiscale"], data=DATA, image_size=16, out=out, umap_sample=16), out


def test_multiscale_per_scale(cli, ckpts, multiscale_report):
    res, out_dir = multiscale_report
    out = json.loads(json.dumps(res.to_dict()))  # what --json prints
    assert KEYS <= set(out)
    per = out["usage"]["per_scale"]
    counts = direct_counts(ckpts["multiscale"], 16)
    assert [p["grid"] for p in per] == [[1, 1], [2, 2], [4, 4]] == out["token_grid"]
    for p, c in zip(per, counts, strict=True):
        assert p["num_tokens"] == 12 * p["grid"][0] * p["grid"][1]
        assert p["perplexity"] == pytest.approx(codebook_usage(np.repeat(np.arange(16), c), 16)["perplexity"])
    assert out["usage"]["num_tokens"] == 12 * (1 + 4 + 16)
    assert_png(out_dir / "tokens.png")
    w_usage, _ = assert_png(out_dir / "usage.png")
    assert w_usage > 1000  # the per-scale panel sits beside the overall one
    assert_html(out_dir / "report.html", 5)
    r = cli("inspect", "codebook", ckpts["multiscale"], "--data", DATA, "--image-size", 16)
    assert r.exit_code == 0 and "per scale" in r.stdout


def test_continuous_reports_latents(cli, ckpts, tmp_path):
    r = cli("inspect", "codebook", ckpts["continuous"])
    assert r.exit_code == 2 and "continuous" in r.stderr and "--data" in r.stderr
    r = cli("inspect", "codebook", ckpts["continuous"], "--data", DATA, "--image-size", 16, "--out", tmp_path, "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert KEYS <= set(out)
    assert out["codebook_size"] is None and out["usage"] is None and "latent statistics" in out["note"]
    tok = load_tokenizer(ckpts["continuous"])
    with torch.no_grad():
        z = torch.cat([tok.encode(x).latents for _, x, _ in iter_batches(open_source(DATA), 16, 5)]).double()
    lat = out["latent"]
    assert lat["channels"] == 4 and lat["grid"] == [4, 4] and lat["num_vectors"] == 12 * 16
    np.testing.assert_allclose(lat["per_channel"]["mean"], z.mean((0, 2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lat["per_channel"]["std"], z.std((0, 2, 3), unbiased=False).numpy(), rtol=1e-4)
    assert out["norm"]["max"] == pytest.approx(float(z.norm(dim=1).max()), rel=1e-5)
    assert set(out["files"]) == {"latents", "umap", "tokens", "report"}
    assert_html(tmp_path / "report.html", 3)
    r = cli("inspect", "codebook", ckpts["continuous"], "--data", DATA, "--image-size", 16)
    assert "continuous tokenizer" in r.stdout and "latent statistics" in r.stdout


def test_same_seed_same_report(ckpts):
    from tokkit.analysis import inspect_codebook
    from tokkit.analysis.embed import umap_embed

    a = inspect_codebook(ckpts["discrete"], data=DATA, image_size=16, seed=3)
    b = inspect_codebook(ckpts["discrete"], data=DATA, image_size=16, seed=3)
    assert a.summary == b.summary
    x = np.random.default_rng(0).normal(size=(40, 6))
    np.testing.assert_array_equal(umap_embed(x, seed=3), umap_embed(x, seed=3))


def test_bad_input(cli, ckpts, tmp_path):
    r = cli("inspect", "codebook", tmp_path / "nope")
    assert r.exit_code == 1 and "no checkpoint" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "empty").mkdir()
    r = cli("inspect", "codebook", tmp_path / "empty")
    assert r.exit_code == 1 and "not a tokkit checkpoint" in r.stderr
    r = cli("inspect", "codebook", ckpts["discrete"], "--data", DATA, "--image-size", 18)
    assert r.exit_code == 2 and "divisible" in r.stderr
    r = cli("inspect", "codebook", ckpts["discrete"], "--data", str(tmp_path / "no_images_here"))
    assert r.exit_code == 1 and "error: no such data" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "afile").write_text("x")
    r = cli("inspect", "codebook", ckpts["discrete"], "--out", tmp_path / "afile")
    assert r.exit_code == 2 and "is a file" in r.stderr
    assert not (tmp_path / "report").exists()


def test_report_renders_in_headless_chromium(multiscale_report):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium); browser check skipped")
    res, _ = multiscale_report
    images, console = probe_page(Path(res.files["report"]), binary)
    assert len(images) == 5
    for complete, width, height in images:
        assert complete and width > 100 and height > 100  # every image decoded
    assert console == [], console

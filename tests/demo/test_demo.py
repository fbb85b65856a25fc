"""`tokkit demo` end to end at a tiny setting: an interrupted run, its resumption, the JSON shape,
the page in headless Chromium, the computed verdict, and the notebook that redraws the main figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.analysis.browser import chromium_binary, layout_at_width, probe_page

TINY = dict(
    data="builtin:photos:n=10,size=32",
    eval_data="builtin:photos:n=10,size=32,seed=1",
    image_size=16,
    codebook_size=8,
    train_steps=2,
    train_batch_size=4,
    eval_images=10,  # the probe holds out images 4 and 9: two, the least a real-data floor needs
    batch_size=10,
    snr_db=(15.0, 1.0),
    probe_steps=2,
    samples=3,
    seeds=2,  # the least that puts an interval on a gFID
    probe_check_levels=(0.0, 0.6),
    show_images=2,
    umap_points=3,  # fewer than 4 points: no UMAP (slow to compile, not what is tested here)
)
NAMES = ["kmeans", "vqgan-tiny", "vae-tiny", "msvq-tiny", "extra-vq"]


class _Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One tiny demo: vqgan-tiny's training killed after step 1, then the whole run interrupted in the
    evaluation of vae-tiny, then rerun to the end. Returns (out, first_ran, final_result, mtimes)."""
    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as env:  # module scope: the per-test isolation of conftest is not active yet
        for key, sub in (("TOKKIT_CACHE_DIR", "cache"), ("TORCH_HOME", "torch"), ("HF_HOME", "hf")):
            env.setenv(key, str(root / sub))
        env.setenv("TOKKIT_OFFLINE", "1")
        env.delenv("TOKKIT_WEIGHTS_DIR", raising=False)
        return _tiny_demo(root)


def _tiny_demo(root: Path):
    from tokkit.demo import DemoSettings, run_demo
    from tokkit.demo import stages as S
    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.tokenizers import create_tokenizer
    from tokkit.train import resolve_config, train

    out = root / "demo"
    settings = DemoSettings(**TINY)
    extra = save_checkpoint(create_tokenizer("vqgan-tiny", codebook_size=8), root / "extra-vq")
    # a training killed after its first step: the demo must resume it, not restart it
    cfg = resolve_config(
        "vqgan-tiny",
        flags={"data": TINY["data"], "steps": 2, "batch_size": 4, "image_size": 16, "seed": 0},
        sets={"model.codebook_size": 8},
    )
    train(cfg, out / "train" / "vqgan-tiny", device="cpu", stop_after=1)

    real = S._evaluate
    calls: list[str] = []

    def evaluate_or_die(study, name, ckpt, feats):
        calls.append(name)
        if name == "vae-tiny":
            raise _Interrupted  # as a kill would: nothing of this stage is written
        return real(study, name, ckpt, feats)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(S, "_evaluate", evaluate_or_die)
        with pytest.raises(_Interrupted):
            run_demo(out, settings, tokenizers=[extra], device="cpu")
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "eval").glob("*.json")}
    mtimes[out / "tokenizers/kmeans/model.safetensors"] = (
        (out / "tokenizers/kmeans/model.safetensors").stat().st_mtime_ns
    )
    result = run_demo(out, settings, tokenizers=[extra], device="cpu")
    return out, calls, result, mtimes, settings, extra


def test_interrupted_demo_resumes_without_redoing_finished_stages(demo):
    out, first_calls, result, mtimes, _, _ = demo
    assert first_calls == ["kmeans", "vqgan-tiny", "vae-tiny"]
    assert result["skipped"] == [
        "fit k-means", "train kmeans-decoder", "train vqgan-tiny", "train vae-tiny", "train msvq-tiny",
        "evaluate kmeans", "evaluate vqgan-tiny",
    ]  # fmt: skip
    assert result["ran"][0] == "evaluate vae-tiny" and result["ran"][-1] == "inspect extra-vq"
    # the latent diagnostics follow the evaluations; probe-check runs once, after them, and its time is
    # recorded like every stage's
    ran = result["ran"]
    assert ran[ran.index("evaluate extra-vq") + 1 : ran.index("latent extra-vq") + 1] == [f"latent {n}" for n in NAMES]
    assert ran.index("probe-check vqgan-tiny") == ran.index("latent extra-vq") + 1
    assert set(result["stage_times"]) == set(result["stages"]) - {"report"}
    assert (out / "eval" / "probe_check.json").is_file()
    for path, t in mtimes.items():
        assert path.stat().st_mtime_ns == t, f"{path} was rewritten"
    # the killed training was resumed from its step-1 checkpoint, not restarted
    starts = json.loads((out / "train" / "vqgan-tiny" / "config.json").read_text())["starts"]
    assert [s.get("resumed_from") for s in starts] == [None, 1]
    assert (out / "train" / "vqgan-tiny" / "checkpoints" / "final" / "model.safetensors").is_file()


def test_rows_report_and_outputs(demo):
    out, _, result, _, settings, _ = demo
    rows = {r["tokenizer"]: r for r in result["rows"]}
    assert list(rows) == NAMES
    km, vq, vae, ms = rows["kmeans"], rows["vqgan-tiny"], rows["vae-tiny"], rows["msvq-tiny"]
    # one token grid (2x2 at 16 px) and one codebook size where the families allow
    assert km["tokens_per_image"] == vq["tokens_per_image"] == 4 and ms["tokens_per_image"] == 1 + 4
    assert km["codebook_size"] == vq["codebook_size"] == ms["codebook_size"] == 8
    for r in (km, vq, ms):
        assert r["rfid"] > 0 and r["gfid"] > 0 and 0 <= r["change"] <= 1 and 0 < r["change_random_codes"] <= 1
        assert r["gfid_floor"] == km["gfid_floor"] > 0  # one real-data floor for all
    # the VAE gets its gFID from the random-order probe with a diffusion head (issue 10)
    assert vae["gfid"] > 0 and vae["gfid_floor"] == km["gfid_floor"] and vae["change"] is None
    assert (vae["probe_order"], vae["probe_head"]) == ("random", "diffusion") and vae["diffusion_loss"] > 0
    assert (ms["probe_order"], km["probe_order"]) == ("next-scale", "raster")
    assert vae["latent_relative_change"] > 0 and vae["utilization"] is None
    page = Path(result["report"])
    html = page.read_text()
    assert page == out / "index.html" and html.count("data:image/png;base64,") == 3 + len(NAMES)
    assert 'src="http' not in html and "<script" not in html  # self-contained
    from tokkit.demo.verdict import digit_verdict

    saved = json.loads((out / "demo.json").read_text())
    decisions = saved["decisions"]
    text = html.replace("&#x27;", "'")
    assert digit_verdict(result["rows"], decisions) in text  # the verdict follows from these rows and decisions
    assert saved["verdict"] == digit_verdict(result["rows"], decisions) and decisions == result["decisions"]
    for name in NAMES:
        assert (out / "inspect" / name / "report.html").is_file()
        arrays = np.load(out / "eval" / f"{name}_arrays.npz")
        assert {"psnr", "ssim", "real", "recon"} <= set(arrays.files)
        assert arrays["psnr"].shape == (10,) and arrays["recon"].dtype == np.float32
        assert arrays["real"].shape == arrays["recon"].shape and arrays["real"].shape[0] == 10
        assert arrays["stability_centred_cosine"].shape == arrays["stability_latent_snr_db"].shape == (10,)
        gen = json.loads((out / "eval" / f"{name}.json").read_text())["generation"]
        assert len(gen["gfid_seeds"]) == len(gen["kid_seeds"]) == 2
    assert saved["rows"] == result["rows"]
    # every row carries its intervals; the table shows them
    for r in result["rows"]:
        lo, hi = r["psnr_ci"]
        assert lo <= r["psnr"] <= hi and r["ssim_ci"][0] <= r["ssim"] <= r["ssim_ci"][1]
        assert len(r["gfid_seeds"]) == r["seeds"] == 2 and r["gfid_std"] >= 0 and r["kid_std"] is not None
        assert r["gfid"] == pytest.approx(np.mean(r["gfid_seeds"]))
    assert f"{km['psnr']:.3g} [{km['psnr_ci'][0]:.3g}, {km['psnr_ci'][1]:.3g}]" in text
    assert f"{km['gfid']:.3g} ± {km['gfid_std']:.2g} (2 seeds)" in text
    # paired decisions between every pair of tokenizers, on the page
    pairs = {(d["a"], d["b"]) for d in decisions}
    assert len(pairs) == len(NAMES) * (len(NAMES) - 1) // 2
    assert {"psnr", "ssim", "rfid", "gfid", "kid"} <= {d["measure"] for d in decisions}
    # stability, paired over images on the vectors each row quotes: the verdict decides it
    km_vq = {d["measure"] for d in decisions if {d["a"], d["b"]} == {"kmeans", "vqgan-tiny"}}
    assert {"centred_cosine", "latent_snr_db", "change_rate", "cosine"} <= km_vq
    assert "stability not decided" not in saved["verdict"] and "K-means tokens more stable: " in saved["verdict"]
    for d in decisions:
        assert d["verdict"] in (d["a"], d["b"], "inconclusive") and d["text"] in text
    assert "Paired decisions" in text
    # latent diagnostics beside gFID, with their baselines and the rank correlation over the 5 tokenizers
    assert [r["tokenizer"] for r in saved["latent"]] == NAMES and "Latent diagnostics (eval latent)" in text
    for r in saved["latent"]:
        assert (out / "latent" / f"{r['tokenizer']}.json").is_file() and r["identity_psnr"] is not None
        assert 0 <= r["high_freq_share"] <= 1 and r["rgb_high_freq_share"] > 0 and r["gfid"] is not None
    corr = saved["diagnostic_correlations"]
    assert corr["n_tokenizers"] == 5 and "weak evidence" in text and set(corr["spearman"]) >= {"interp_fid"}
    # probe-check: stored, in demo.json, and shown with its sentence
    pc = json.loads((out / "eval" / "probe_check.json").read_text())
    assert pc["levels"] == [0.0, 0.6] and pc["tokenizer"] == "vqgan-tiny" and saved["probe_check"] == pc
    assert {"gfid", "bits_per_token"} <= set(pc["measures"]) and pc["pairs"] == 1
    from tokkit.demo.verdict import probe_check_sentence

    assert "Probe check" in text and probe_check_sentence(pc) in text
    assert probe_check_sentence(pc).startswith("This budget ")


def test_rerun_skips_every_finished_stage_including_probe_check(demo):
    from tokkit.demo import run_demo

    out, _, first, _, settings, extra = demo
    pc = out / "eval" / "probe_check.json"
    before = pc.stat().st_mtime_ns
    again = run_demo(out, settings, tokenizers=[extra], device="cpu")
    assert again["ran"] == [] and again["skipped"] == [s for s in again["stages"] if s != "report"]
    assert "probe-check vqgan-tiny" in again["skipped"] and pc.stat().st_mtime_ns == before
    assert again["rows"] == first["rows"] and again["decisions"] == first["decisions"]  # the same seeds, the same page


def test_cli_json_reuses_the_finished_run(demo, cli, tmp_path):
    out, _, result, _, settings, extra = demo
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    r = cli("demo", "--out", out, "--settings", cfg, "--tokenizer", extra, "--device", "cpu", "--json")
    assert r.exit_code == 0, r.stderr
    got = json.loads(r.stdout)
    assert set(got) == {"rows", "report"} and got["report"] == str(out / "index.html")
    for row in got["rows"]:
        assert {"tokenizer", "kind", "rfid", "gfid", "gfid_floor", "psnr", "ssim", "change", "cosine_centred",
                "latent_snr_db", "utilization"} <= set(row)  # fmt: skip
    assert [row["tokenizer"] for row in got["rows"]] == NAMES
    # other settings into the same folder: refused with one line, nothing mixed
    cfg.write_text(json.dumps({**TINY, "train_steps": 3}))
    bad = cli("demo", "--out", out, "--settings", cfg, "--tokenizer", extra, "--json")
    assert bad.exit_code == 2 and "other settings (train_steps)" in bad.stderr and bad.stdout == ""
    missing = cli("demo", "--out", tmp_path / "x", "--tokenizer", tmp_path / "nope")
    assert missing.exit_code != 0 and "nope" in missing.stderr and "Traceback" not in missing.stderr


def test_demo_folder_is_an_eval_table_input(demo, cli, tmp_path):
    """eval table takes a demo folder (its demo.json rows, the protocol of its eval recon results) and draws
    rFID vs gFID with the per-seed intervals."""
    out, _, result, _, _, _ = demo
    r = cli("eval", "table", out, "--out", tmp_path / "t.md", "--plot", tmp_path / "fid.png", "--json")
    assert r.exit_code == 0, r.stderr
    t = json.loads(r.stdout)
    assert [row["tokenizer"] for row in t["rows"]] == [row["tokenizer"] for row in result["rows"]]
    assert t["rows"][0]["gfid"] == result["rows"][0]["gfid"] and t["protocol"]["image_size"] == TINY["image_size"]
    assert (tmp_path / "fid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "demo.json").write_text((out / "demo.json").read_text())  # without its eval/ folder: no protocol
    bad = cli("eval", "table", alone)
    assert bad.exit_code == 1 and "without its folder" in bad.stderr
    bad_plot = cli("eval", "table", out, "--plot", tmp_path / "fid.jpg")
    assert bad_plot.exit_code == 2 and ".png" in bad_plot.stderr


def test_report_loads_in_chromium(demo):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    images, console = probe_page(demo[0] / "index.html", binary)
    assert len(images) == 3 + len(NAMES)
    assert all(complete and w > 0 and h > 0 for complete, w, h in images), images
    assert not [c for c in console if "error" in c.lower()], console


def test_report_fits_a_1280px_window(demo, tmp_path):
    """At 1280 px nothing is cut off: the page is no wider than the window, and every table either
    fits or scrolls inside its own box (the comparison table has the most columns)."""
    from PIL import Image

    binary = chromium_binary()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    shot = tmp_path / "page.png"
    layout = layout_at_width(demo[0] / "index.html", binary, 1280, shot)
    assert Image.open(shot).size[0] == 1280  # the screenshot is the 1280-px window
    assert layout["inner"] == 1280 and layout["scroll"] <= layout["inner"], layout
    assert layout["boxes"], "the page has no tables"
    for right, scroll_w, client_w, overflow in layout["boxes"]:
        assert right <= layout["inner"], layout  # the table's box ends inside the window
        assert scroll_w <= client_w or overflow in ("auto", "scroll"), layout  # wider: it scrolls in its box


def test_notebook_redraws_the_main_figure(demo, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is a dev extra: pip install -e '.[dev]'")
    pytest.importorskip("ipykernel", reason="ipykernel is a dev extra: pip install -e '.[dev]'")
    nb_path = Path(__file__).resolve().parents[2] / "notebooks" / "demo_figure.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "strip the notebook's outputs"
    monkeypatch.setenv("TOKKIT_DEMO_DIR", str(demo[0]))
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 1
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "DiGIT's ordering" in text


def _row(name, arch, kind, **kw):
    base = dict(tokenizer=name, architecture=arch, kind=kind, snr_quoted_db=15.0, change=None,
                change_random_codes=None, cosine=None, cosine_centred=None, latent_snr_db=None, gfid=None,
                rfid=None, psnr=None)  # fmt: skip
    return {**base, **kw}


def _decision(measure, a, b, diff, lo, hi, n, unit, needed=None):
    from tokkit.stats import decide, describe
    from tokkit.stats.intervals import PairedResult

    sd = None if needed is None else 1.0
    d = decide(measure, a, b, PairedResult(diff, lo, hi, sd, n, 0.95, "t"))
    d["needed"] = needed if d["verdict"] == "inconclusive" else None
    return {**d, "unit": unit, "text": describe(d, unit=unit)}


def _verdict_case():
    km = _row("kmeans", "kmeans", "discrete", change=0.4, change_random_codes=0.99, cosine=0.8, cosine_centred=0.8,
              latent_snr_db=5.0, gfid=50.0, rfid=300.0, psnr=15.0)  # fmt: skip
    vq = _row("vq", "vqgan", "discrete", change=0.2, change_random_codes=0.3, cosine=0.99, cosine_centred=0.4,
              latent_snr_db=1.0, gfid=80.0, rfid=200.0, psnr=17.0)  # fmt: skip
    decisions = [
        _decision("gfid", "kmeans", "vq", -30.0, -40.0, -20.0, 3, "seeds"),  # k-means generates better: resolved
        _decision("rfid", "kmeans", "vq", 100.0, 60.0, 140.0, 10, "images"),  # the VQ reconstructs better: resolved
        _decision("psnr", "kmeans", "vq", -2.0, -5.0, 1.0, 10, "images", needed=37),  # inconclusive
    ]
    return km, vq, decisions


def test_verdict_is_decided_by_resolved_paired_decisions():
    from tokkit.demo.verdict import digit_verdict

    km, vq, decisions = _verdict_case()
    text = digit_verdict([km, vq], decisions)
    assert text.startswith(
        "DiGIT's ordering on this data (k-means vs vq, decided by paired 95% intervals; stability at 15 dB): "
        "generation holds; reconstruction holds against vq by rFID; not resolved at this budget: reconstruction "
        "against the rest; stability not decided (point estimates only)."
    ), text
    assert "K-means tokens easier to generate from: holds — gFID vs vq: holds, kmeans better by 30" in text
    assert "The VQ reconstructs better: in part — rFID vs vq: holds, vq better by 100 (95% CI 60..140, 10 im" in text
    assert "PSNR vs vq: not resolved at this budget (about 37 images would resolve a difference of 2)" in text
    # stability: point estimates, named as such, deciding nothing
    assert "Stability: not decided" in text and "point estimates only: " in text
    assert "centred cosine (higher is more stable) 0.8 k-means vs 0.4 vq" in text
    # a resolved decision the other way: the claim does not hold
    flipped = [_decision("gfid", "kmeans", "vq", 30.0, 20.0, 40.0, 3, "seeds"), *decisions[1:]]
    assert "K-means tokens easier to generate from: does not hold — gFID vs vq: does not hold, vq better by 30" in (
        digit_verdict([km, vq], flipped)
    )
    # inconclusive everywhere: nothing is claimed, each with its power estimate
    open_ = [_decision("gfid", "kmeans", "vq", -3.0, -9.0, 3.0, 3, "seeds", needed=12), decisions[2]]
    text = digit_verdict([km, vq], open_)
    assert ": nothing is resolved at this budget; stability not decided (point estimates only)." in text
    assert "gFID vs vq: not resolved at this budget (about 12 seeds would resolve a difference of 3)" in text
    assert "rFID vs vq: not resolved at this budget (no paired decision on this run)" in text
    assert " holds" not in text.split("Stability:")[0] and "does not hold" not in text
    # rows without decisions (an older caller): nothing is resolved
    assert ": nothing is resolved at this budget;" in digit_verdict([km, vq])
    assert "cannot be checked" in digit_verdict([vq])


def test_verdict_wording_follows_the_decisions_not_the_point_estimates():
    """Issue 21.2: tiny trainings differ slightly across CPUs; with the same decisions the verdict is the same."""
    from tokkit.demo.verdict import digit_checks, digit_verdict

    km, vq, decisions = _verdict_case()
    text = digit_verdict([km, vq], decisions)
    # other point estimates of the decided measures (even reversed), the same decisions: the same text
    km2 = {**km, "gfid": 81.0, "rfid": 190.0, "psnr": 17.5}
    vq2 = {**vq, "gfid": 79.0, "rfid": 210.0, "psnr": 16.9}
    assert digit_verdict([km2, vq2], decisions) == text
    # other stability point estimates change only the quoted numbers, never a claim
    km3 = {**km, "cosine_centred": 0.3, "latent_snr_db": 0.5}
    text3 = digit_verdict([km3, vq], decisions)
    assert text3.split("Stability:")[0] == text.split("Stability:")[0] and text3 != text
    # the point-estimate checks are still computed (they feed the stability clause)
    checks = {c.measure: c.holds for c in digit_checks([km, vq])}
    assert checks["centred cosine"] is True and checks["token change rate"] is False


def test_verdict_decides_stability_by_the_paired_collapse_proof_measures():
    """With per-image stability decisions (centred cosine, latent SNR) stability is a claim like the others;
    the raw change rate and cosine are quoted beside it and decide nothing."""
    from tokkit.demo.verdict import digit_verdict

    km, vq, decisions = _verdict_case()
    stab = [
        _decision("centred_cosine", "kmeans", "vq", 0.4, 0.3, 0.5, 10, "images"),  # k-means more stable: resolved
        _decision("latent_snr_db", "kmeans", "vq", 4.0, -1.0, 9.0, 10, "images", needed=25),  # inconclusive
        _decision("change_rate", "kmeans", "vq", 0.2, 0.1, 0.3, 10, "images"),  # raw: decides nothing
    ]
    text = digit_verdict([km, vq], [*decisions, *stab])
    head = text.split(". ")[0]
    assert "stability holds against vq by centred cosine" in head and "point estimates only" not in head, text
    assert "not resolved at this budget: stability against the rest, reconstruction against the rest" in head
    assert "K-means tokens more stable: in part — centred cosine vs vq: holds, kmeans better by 0.4" in text
    assert "latent SNR vs vq: not resolved at this budget (about 25 images would resolve a difference of 4)" in text
    assert "point estimates that a collapsed latent can fake and that decide nothing: token change rate" in text
    assert "raw cosine (higher is more stable) 0.8 k-means vs 0.99 vq" in text and "Stability: not decided" not in text
    # the VQ resolved more stable by both: the claim does not hold
    rev = [_decision(m, "kmeans", "vq", -1.0, -2.0, -0.5, 10, "images") for m in ("centred_cosine", "latent_snr_db")]
    assert "K-means tokens more stable: does not hold" in digit_verdict([km, vq], [*decisions, *rev])


def test_demo_stability_decisions_use_the_rows_vectors(tmp_path):
    """eval/NAME_arrays.npz keeps the per-image stability values of the vectors the row quotes (the
    pre-quantization features where there are some), at the quoted noise level."""
    from tokkit.demo.rows import stability_arrays

    per_snr = {"snr=15": {"change_rate": np.array([0.1, 0.3]), "cosine": np.array([0.5, 0.7]),
                          "features_cosine": np.array([0.9, 0.8]), "features_centred_cosine": np.array([0.6, 0.4]),
                          "features_latent_snr_db": np.array([3.0, 5.0])}}  # fmt: skip
    feats = {"cosine_features": [0.85]}
    got = stability_arrays(per_snr, feats, 15.0)
    assert set(got) == {"stability_change_rate", "stability_cosine", "stability_centred_cosine",
                        "stability_latent_snr_db"}  # fmt: skip
    np.testing.assert_array_equal(got["stability_cosine"], [0.9, 0.8])  # the features, as the row quotes
    quant = stability_arrays(per_snr, {"cosine_features": [None]}, 15.0)
    np.testing.assert_array_equal(quant["stability_cosine"], [0.5, 0.7])
    assert stability_arrays(per_snr, feats, 5.0) == {}


def test_one_progress_display_drops_finished_inner_bars():
    import io

    from rich.console import Console

    from tokkit.progress import task, use_reporter
    from tokkit_cli.console import RichReporter

    reporter = RichReporter(Console(file=io.StringIO()), remove_finished=True)
    with use_reporter(reporter), task("tokkit demo", total=2) as outer:
        progress = reporter.progress
        with task("Training vqgan-tiny", total=3) as inner:
            inner.advance(3)
            assert len(progress.tasks) == 2
        assert [t.description for t in progress.tasks] == ["tokkit demo"]  # the finished inner bar is gone
        outer.advance(2)


def test_settings_file_errors(tmp_path):
    from tokkit.demo.settings import DEFAULT, settings_from_file
    from tokkit.errors import UsageError

    p = tmp_path / "s.json"
    p.write_text(json.dumps({"train_steps": 5, "snr_db": [10, 1]}))
    s = settings_from_file(p)
    assert s.train_steps == 5 and s.snr_db == (10, 1) and s.image_size == DEFAULT.image_size
    p.write_text(json.dumps({"train_stepz": 5}))
    with pytest.raises(UsageError, match="unknown demo setting 'train_stepz'"):
        settings_from_file(p)

"""``out/index.html``: one self-contained page (figures inlined) and ``out/demo.json`` (rows, paired
decisions, probe-check, verdict)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from tokkit.analysis.plots import fid_figure
from tokkit.analysis.report import Section, render_html, write_bytes_atomic
from tokkit.demo import figures, verdict
from tokkit.demo.folder import PROBE_CHECK, latent_json, load_arrays, tokenizer_jsons, write_json
from tokkit.demo.rows import STABILITY_PREFIX, stability_curves
from tokkit.demo.settings import DemoSettings

COLUMNS = [
    ("tokenizer", "tokenizer"),
    ("kind", "kind"),
    ("codebook_size", "K"),
    ("tokens_per_image", "tokens"),
    ("psnr", "PSNR dB [95% CI]"),
    ("ssim", "SSIM [95% CI]"),
    ("rfid", "rFID"),
    ("gfid", "gFID ± std (seeds)"),
    ("gfid_floor", "floor"),
    ("kid", "sample KID ± s.e."),
    ("utilization", "usage"),
    ("perplexity", "perplexity"),
    ("change", "change"),
    ("change_random_codes", "random-code change"),
    ("cosine", "cosine"),
    ("cosine_centred", "centred cosine"),
    ("cosine_random_pairs", "random-pair cosine"),
    ("latent_snr_db", "latent SNR dB"),
]


def load_results(out: str | Path, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Per tokenizer: {"row", "curves", "counts", "images", "stability"} from ``out/eval`` (demo order
    when ``names`` is given, else by name)."""
    out = Path(out)
    paths = [out / "eval" / f"{n}.json" for n in names] if names else tokenizer_jsons(out)
    results = []
    for p in paths:
        d = json.loads(p.read_text())
        npz = p.with_name(p.stem + "_images.npz")
        with np.load(io.BytesIO(npz.read_bytes())) as z:
            images = {k: z[k] for k in z.files}
        results.append(
            {"row": d["row"], "curves": stability_curves(d["stability"]), "counts": d["counts"], "images": images,
             "stability": d["stability"]}
        )  # fmt: skip
    return results


def _g(v: float, digits: int = 3) -> str:
    return f"{v:.{digits}g}"


def _cell(row: dict[str, Any], key: str) -> Any:
    """A table cell: the value, with its interval where the row has one ("18.2 [17.9, 18.5]",
    "302 ± 4.1 (3 seeds)")."""
    v = row.get(key)
    if key == "gfid" and v is None:
        return "n/a" + (f" ({str(row.get('gfid_reason')).split(':')[0]})" if row.get("gfid_reason") else "")
    if v is None:
        return "-"
    if key in ("psnr", "ssim"):
        ci = row.get(f"{key}_ci")
        return f"{_g(v)} [{_g(ci[0])}, {_g(ci[1])}]" if ci and None not in ci else _g(v)
    if key == "gfid":
        n = row.get("seeds") or len(row.get("gfid_seeds") or []) or 1
        std = row.get("gfid_std")
        return f"{_g(v)} ± {_g(std, 2)} ({n} seeds)" if std is not None else f"{_g(v)} ({n} seed{'s' if n > 1 else ''})"
    if key == "kid":
        std = row.get("kid_std")
        return f"{_g(v)} ± {_g(std, 2)}" if std is not None else _g(v)
    return v


MEASURE_NAMES = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "rfid": "rFID", "gfid": "gFID", "kid": "sample KID",
                 "bits_per_token": "bits per token", "diffusion_loss": "diffusion loss"}  # fmt: skip


def compute_decisions(out: str | Path, names: list[str], seed: int = 0) -> list[dict[str, Any]]:
    """Paired decisions between every pair of tokenizers (``compare_decisions``) from ``out/eval``:
    per-image PSNR/SSIM/LPIPS, stability values and rFID features (NAME_arrays.npz), per-seed gFID/KID
    (NAME.json)."""
    from tokkit.metrics.decisions import compare_decisions

    out = Path(out)
    arrays = {n: load_arrays(out / "eval" / f"{n}_arrays.npz") for n in names}
    results = {n: json.loads((out / "eval" / f"{n}.json").read_text()) for n in names}
    p = len(STABILITY_PREFIX)
    stability = {n: {k[p:]: v for k, v in a.items() if k.startswith(STABILITY_PREFIX)} for n, a in arrays.items()}
    return compare_decisions(
        names,
        arrays,
        {n: r["generation"] for n, r in results.items()},
        seed=seed,
        stability_arrays=stability,
        kinds={n: r["row"]["kind"] for n, r in results.items()},
    )


def load_latent(out: str | Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per row with a latent/NAME.json: its ``latent_row``; empty for a run made before the latent stage."""
    paths = [(r, latent_json(out, r["tokenizer"])) for r in rows]
    return [latent_row(r, json.loads(p.read_text())) for r, p in paths if p.is_file()]


def latent_row(row: dict[str, Any], lat: dict[str, Any]) -> dict[str, Any]:
    """{"tokenizer", "gfid", "rfid", the ``eval compare`` latent columns, their baselines, "reasons"} of one
    ``evaluate_latent`` result."""
    from tokkit.metrics.compare import latent_columns

    reasons = dict(lat.get("equivariance_reasons") or {})
    if lat.get("interp_reason"):
        reasons["interp_fid"] = lat["interp_reason"]
    return {
        "tokenizer": row["tokenizer"],
        "gfid": row.get("gfid"),
        "rfid": row.get("rfid"),  # the probe protocol's, as in the comparison table
        **latent_columns(lat),
        "global_std": lat["global_std"],
        "noise_high_freq_share": lat["noise_high_freq_share"],
        "equivariance_rot90": (lat.get("equivariance_psnr") or {}).get("rot90"),
        "reasons": reasons,
    }


def load_probe_check(out: str | Path) -> dict[str, Any] | None:
    """``out/eval/probe_check.json``, None when the demo ran none."""
    path = Path(out) / "eval" / f"{PROBE_CHECK}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _decisions_table(decisions: list[dict[str, Any]]) -> tuple[str, list[str], list[list[Any]]]:
    rows = [
        [MEASURE_NAMES.get(d["measure"], d["measure"]), d["a"], d["b"], d["diff"],
         "-" if None in d["ci95"] else f"[{_g(d['ci95'][0])}, {_g(d['ci95'][1])}]", f"{d['n']} {d['unit']}",
         d["verdict"], d["text"]]
        for d in decisions
    ]  # fmt: skip
    header = ["measure", "a", "b", "diff a - b", "95% CI", "paired over", "verdict", "in words"]
    return "", header, rows


def _probe_check_tables(pc: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    ms = pc.get("measures") or {}
    names = [MEASURE_NAMES.get(m, m) for m in ms]
    per_level = []
    for i, level in enumerate(pc["levels"]):
        cells: list[Any] = [level]
        for m in ms.values():
            mean, std = m["mean"][i], m["std"][i]
            cells.append(f"{_g(mean)} ± {_g(std, 2)}" if std is not None else _g(mean))
        per_level.append(cells)
    summary = [
        [MEASURE_NAMES.get(k, k), m["spearman"], f"{m['resolved_pairs']} of {m['pairs']}",
         "-" if m.get("seeds_needed") is None else m["seeds_needed"]]
        for k, m in ms.items()
    ]  # fmt: skip
    return [
        ("mean ± std over the seeds, per level", ["level", *[f"{n}" for n in names]], per_level),
        ("does the probe rank the ladder?", ["measure", "Spearman", "pairs resolved in order", "seeds needed"],
         summary),
    ]  # fmt: skip


def _protocol_text(s: DemoSettings, rows: list[dict[str, Any]]) -> str:
    return (
        f"Trained on {s.data} ({s.train_steps} steps x {s.train_batch_size} images at {s.image_size} px, every "
        f"family the same); evaluated on the first {s.eval_images} images of {s.eval_data} (other crops of the same "
        f"photographs) at {s.image_size} px. k-means: {s.encoder} layer {s.layer}, K={s.codebook_size}, plus a "
        f"pixel decoder trained on its frozen tokens. Same token grid ({s.grid}x{s.grid}) for k-means, vqgan-tiny "
        f"and vae-tiny; same K={s.codebook_size} for k-means, vqgan-tiny and msvq-tiny (msvq-tiny adds coarser "
        f"scales; vae-tiny is continuous, 4 channels). Stability: Gaussian pixel noise at {list(s.snr_db)} dB on "
        f"the pre-quantization features (quantized vectors where none are exposed), quoted at {s.mid_snr:g} dB. "
        f"Generation: the probe ({s.probe_steps} steps) is trained with {s.seeds} seeds ({s.seed}.."
        f"{s.seed + s.seeds - 1}, each also its sampling seed); each samples {s.samples} token maps, decoded and "
        f"scored by gFID in the {s.fid_features} feature space; rFID in the same space. Probe check: the same probe "
        f"on vqgan-tiny with a fraction {list(s.probe_check_levels)} of its tokens randomised, at least 2 seeds. "
        f"Decisions: every pair of "
        f"tokenizers is compared on paired data (the same images, the same seeds): PSNR, SSIM and LPIPS by a t "
        f"interval over the per-image differences, rFID by a paired bootstrap over the images, gFID and KID by a "
        f"t interval over the per-seed differences; a difference is resolved where the 95% interval excludes 0."
    )


def write_report(out: str | Path, rows: list[dict[str, Any]], settings: DemoSettings) -> Path:
    """Write ``index.html`` and ``demo.json`` into ``out``; returns the page's path."""
    out = Path(out)
    names = [r["tokenizer"] for r in rows]
    results = load_results(out, names)
    decisions = compute_decisions(out, names, settings.seed)
    pc = load_probe_check(out)
    text = verdict.digit_verdict(rows, decisions)
    from tokkit.metrics.compare import diagnostic_correlations

    latent = load_latent(out, rows)
    correlations = diagnostic_correlations(latent)
    sections = [Section("Answer", text=text), *_comparison_sections(rows, decisions)]
    if latent:
        sections.append(_latent_section(latent, correlations))
    if pc is not None:
        sections.append(_probe_check_section(pc))
    sections += _figure_sections(rows, results, settings)
    sections.append(_protocol_section(out, settings, rows))
    html = render_html("tokkit demo", f"{len(rows)} tokenizers on {settings.data}, one protocol", sections)
    write_json(out / "demo.json", {"rows": rows, "verdict": text, "decisions": decisions, "probe_check": pc,
                                   "latent": latent, "diagnostic_correlations": correlations})  # fmt: skip
    page = out / "index.html"
    write_bytes_atomic(page, html.encode("utf-8"))
    return page


def _comparison_sections(rows: list[dict[str, Any]], decisions: list[dict[str, Any]]) -> list[Section]:
    """The comparison table (intervals beside each figure) and the paired decisions between every pair."""
    return [
        Section(
            "Comparison",
            text=verdict.table_sentence(rows),
            tables=[("", [h for _, h in COLUMNS], [[_cell(r, k) for k, _ in COLUMNS] for r in rows])],
            note="PSNR and SSIM: the mean over the evaluation images with its 95% interval; gFID: the mean over "
            "the probe seeds ± their standard deviation. Stability columns at the quoted noise level (point "
            "estimates); each beside its baseline (random-code change, random-pair cosine). A collapsed encoder "
            "scores a high raw cosine but a low centred cosine and SNR.",
        ),
        Section(
            "Paired decisions",
            text=verdict.decisions_sentence(decisions),
            tables=[_decisions_table(decisions)],
            note="Each pair on paired data: PSNR, SSIM, LPIPS and rFID over the same evaluation images (rFID here: "
            "the reconstructions of all of them against the originals, by a paired bootstrap; the table's rFID is "
            "the probe's, beside its gFID floor), gFID and sample KID over the same probe seeds. DiGIT's verdict "
            "reads its claims from these rows only.",
        ),
    ]


LATENT_TABLE = [
    ("tokenizer", "tokenizer"),
    ("gfid", "gFID (probe)"),
    ("global_std", "latent std"),
    ("suggested_scale", "suggested scale"),
    ("high_freq_share", "high-freq share"),
    ("rgb_high_freq_share", "RGB high-freq share"),
    ("noise_high_freq_share", "white-noise high-freq share"),
    ("equivariance_scale_0.5", "equivariance PSNR, scale 0.5"),
    ("equivariance_rot90", "equivariance PSNR, rot90"),
    ("identity_psnr", "identity PSNR"),
    ("interp_fid", "interpolation FID"),
    ("interp_rfid", "held-out rFID"),
]


def _latent_cell(row: dict[str, Any], key: str) -> Any:
    v = row.get(key)
    return "n/a" if v is None else (_g(v) if isinstance(v, float) else v)


def _latent_section(latent: list[dict[str, Any]], correlations: dict[str, Any] | None) -> Section:
    """The latent diagnostics beside the probe's gFID, each with its baseline, and their rank correlation."""
    tables = [("", [h for _, h in LATENT_TABLE], [[_latent_cell(r, k) for k, _ in LATENT_TABLE] for r in latent])]
    text = "No correlation with gFID: fewer than 3 tokenizers."
    if correlations is not None:
        sp = correlations["spearman"]
        tables.append(("Spearman rank correlation with gFID", ["diagnostic", "rho", "p", "tokenizers"],
                       [[k, "n/a" if v["rho"] is None else _g(v["rho"]), "n/a" if v["p"] is None else _g(v["p"]),
                         v["n"]] for k, v in sp.items()]))  # fmt: skip
        text = correlations["warning"] + "."
    reasons = "; ".join(f"{r['tokenizer']} {k}: {v}" for r in latent for k, v in r["reasons"].items())
    return Section(
        "Latent diagnostics (eval latent)",
        text=text,
        tables=tables,
        note="Each beside its baseline: the high-frequency share (bands 8-15 of the normalised DCT power) of the "
        "latents beside that of the RGB images and of white noise; equivariance PSNR(decode(T(z)), T(x)) beside "
        "the identity (the plain reconstruction); the FID of decoded slerp midpoints beside the held-out rFID; "
        "point estimates over the held-out images." + (f" Not computed: {reasons}." if reasons else ""),
    )


def _probe_check_section(pc: dict[str, Any]) -> Section:
    return Section(
        f"Probe check: does this budget separate tokenizers? ({pc.get('tokenizer')} ladder)",
        text=verdict.probe_check_sentence(pc),
        tables=_probe_check_tables(pc),
        note="Level p: a fraction p of each image's tokens replaced by uniform random codes, so a higher "
        "level is a worse tokenizer by construction; every level runs the same probe with the same seeds.",
    )


def _figure_sections(
    rows: list[dict[str, Any]], results: list[dict[str, Any]], settings: DemoSettings
) -> list[Section]:
    """Reconstruction vs generation, stability (beside DiGIT's published table), usage, and images per tokenizer."""
    digit = (
        "DiGIT Table 1, published (ImageNet, DINOv2 k-means tokens vs VQGAN): for reference only",
        ["SNR dB", *[str(s) for s in figures.DIGIT_SNR]],
        [[f"{who} {what}", *vals] for what, curves in figures.DIGIT_TABLE1.items() for who, vals in curves.items()],
    )
    sections = [
        Section(
            "Reconstruction vs generation",
            figures=[(verdict.fid_sentence(rows), fid_figure(rows, settings.fid_features))],
        ),
        Section(
            "Stability (DiGIT Table 1 on this run)",
            figures=[(verdict.stability_sentence(rows), figures.stability_figure(results))],
            tables=[digit],
        ),
        Section("Codebook usage", figures=[(verdict.usage_sentence(rows), figures.usage_figure(results))]),
    ]
    for res in results:
        name = res["row"]["tokenizer"]
        sections.append(
            Section(
                f"Images: {name}",
                text=f"Codebook inspection of {name}: inspect/{name}/report.html",
                figures=[(verdict.images_sentence(res["row"]), figures.images_figure(name, res["images"]))],
            )
        )
    return sections


def _protocol_section(out: Path, settings: DemoSettings, rows: list[dict[str, Any]]) -> Section:
    times_path = out / "stage_times.json"
    times = json.loads(times_path.read_text()) if times_path.is_file() else {}
    return Section(
        "Protocol",
        text=_protocol_text(settings, rows),
        tables=[
            (
                "stage times on this machine (the run that finished each stage)",
                ["stage", "wall s", "CPU s"],
                [[k, v["seconds"], v["cpu_seconds"]] for k, v in times.items()],
            )
        ],
    )

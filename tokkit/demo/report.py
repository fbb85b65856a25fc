"""``out/index.html``: one self-contained page (figures inlined) and ``out/demo.json`` (rows + verdict)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from tokkit.analysis.report import Section, render_html, write_bytes_atomic
from tokkit.demo import figures, verdict
from tokkit.demo.rows import stability_curves
from tokkit.demo.settings import DemoSettings

COLUMNS = [
    ("tokenizer", "tokenizer"),
    ("kind", "kind"),
    ("codebook_size", "K"),
    ("tokens_per_image", "tokens"),
    ("psnr", "PSNR dB"),
    ("ssim", "SSIM"),
    ("rfid", "rFID"),
    ("gfid", "gFID"),
    ("gfid_floor", "floor"),
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
    paths = [out / "eval" / f"{n}.json" for n in names] if names else sorted((out / "eval").glob("*.json"))
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


def _cell(row: dict[str, Any], key: str) -> Any:
    v = row.get(key)
    if key == "gfid" and v is None:
        return "n/a" + (f" ({str(row.get('gfid_reason')).split(':')[0]})" if row.get("gfid_reason") else "")
    return "-" if v is None else v


def _protocol_text(s: DemoSettings, rows: list[dict[str, Any]]) -> str:
    return (
        f"Trained on {s.data} ({s.train_steps} steps x {s.train_batch_size} images at {s.image_size} px, every "
        f"family the same); evaluated on the first {s.eval_images} images of {s.eval_data} (other crops of the same "
        f"photographs) at {s.image_size} px. k-means: {s.encoder} layer {s.layer}, K={s.codebook_size}, plus a "
        f"pixel decoder trained on its frozen tokens. Same token grid ({s.grid}x{s.grid}) for k-means, vqgan-tiny "
        f"and vae-tiny; same K={s.codebook_size} for k-means, vqgan-tiny and msvq-tiny (msvq-tiny adds coarser "
        f"scales; vae-tiny is continuous, 4 channels). Stability: Gaussian pixel noise at {list(s.snr_db)} dB on "
        f"the pre-quantization features (quantized vectors where none are exposed), quoted at {s.mid_snr:g} dB. "
        f"Generation: the probe ({s.probe_steps} steps) samples {s.samples} token maps, decoded and scored by "
        f"gFID in the {s.fid_features} feature space; rFID in the same space."
    )


def write_report(out: str | Path, rows: list[dict[str, Any]], settings: DemoSettings) -> Path:
    """Write ``index.html`` and ``demo.json`` into ``out``; returns the page's path."""
    out = Path(out)
    results = load_results(out, [r["tokenizer"] for r in rows])
    text = verdict.digit_verdict(rows)
    sections = [
        Section("Answer", text=text),
        Section(
            "Comparison",
            text=verdict.table_sentence(rows),
            tables=[("", [h for _, h in COLUMNS], [[_cell(r, k) for k, _ in COLUMNS] for r in rows])],
            note="Stability columns at the quoted noise level; each beside its baseline (random-code change, "
            "random-pair cosine). A collapsed encoder scores a high raw cosine but a low centred cosine and SNR.",
        ),
        Section(
            "Reconstruction vs generation",
            figures=[(verdict.fid_sentence(rows), figures.fid_figure(rows, settings.fid_features))],
        ),
        Section(
            "Stability (DiGIT Table 1 on this run)",
            figures=[(verdict.stability_sentence(rows), figures.stability_figure(results))],
            tables=[
                (
                    "DiGIT Table 1, published (ImageNet, DINOv2 k-means tokens vs VQGAN): for reference only",
                    ["SNR dB", *[str(s) for s in figures.DIGIT_SNR]],
                    [
                        [f"{who} {what}", *vals]
                        for what, curves in figures.DIGIT_TABLE1.items()
                        for who, vals in curves.items()
                    ],
                )
            ],
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
    times_path = out / "stage_times.json"
    times = json.loads(times_path.read_text()) if times_path.is_file() else {}
    sections.append(
        Section(
            "Protocol",
            text=_protocol_text(settings, rows),
            tables=[
                (
                    "stage times on this machine (the run that finished each stage)",
                    ["stage", "wall s", "CPU s"],
                    [[k, v["seconds"], v["cpu_seconds"]] for k, v in times.items()],
                )
            ],  # fmt: skip
        )
    )
    html = render_html("tokkit demo", f"{len(rows)} tokenizers on {settings.data}, one protocol", sections)
    page = out / "index.html"
    write_bytes_atomic(out / "demo.json", (json.dumps({"rows": rows, "verdict": text}, indent=2) + "\n").encode())
    write_bytes_atomic(page, html.encode("utf-8"))
    return page

"""``tokkit eval stability``: the stability tables (quantized vectors or latents, then features)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout
from tokkit_cli.render.common import fmt, kind, print_protocol, print_warnings


def _cells(r: dict[str, Any], i: int | None, key: str, snr: str) -> list[str]:
    """One row's cells: change rate (quantized only), cosine, centred cosine, SNR dB; ``i`` picks a noise level."""
    get = (lambda k: r[k][i]) if i is not None else (lambda k: r[k])
    first = [fmt(get("token_change_rate"))] if key == "quantized" else []
    return first + [fmt(get(f"cosine_{key}")), fmt(get(f"cosine_{key}_centred")), fmt(get(f"{snr}_snr_db"), 2)]


def _panel(result: dict[str, Any], title: str, key: str, snr: str, change: str) -> Table:
    b = result["baselines"]
    rp, rpc = b["cosine_random_pairs"], b["cosine_random_pairs_centred"]
    table = Table(title=title)
    table.add_column("perturbation", no_wrap=True)
    heads = ([change] if key == "quantized" else []) + ["cosine", "centred cosine", "SNR dB"]
    for h in heads:
        table.add_column(h, justify="right")
    for i, s in enumerate(result["snr_db"]):
        table.add_row(f"noise {s:g} dB", *_cells(result, i, key, snr))
    for name, r in result["perturbations"].items():
        table.add_row(name, *_cells(r, None, key, snr))
    base = [fmt(b["token_change_random_codes"])] if key == "quantized" else []
    table.add_row("baseline: random", *base, fmt(rp[key]), fmt(rpc[key]), "")
    return table


def render_stability(result: dict[str, Any], tokenizer: Path) -> None:
    """Two narrow tables (they fit a terminal), the protocol, what the baseline row means, warnings."""
    p = result["protocol"]
    change = "latent rel. change" if "latent" in p["change_measure"] else "token change rate"
    panels = [
        ("quantized" if kind(p) != "continuous" else "latents", "quantized", "latent"),
        ("pre-quantization features", "features", "feature"),
    ]
    for title, key, snr in panels:
        if all(v is None for v in result[f"cosine_{key}"]):
            continue
        stdout.print(_panel(result, f"stability of the {title}: {tokenizer}", key, snr, change))
    print_protocol(p)
    stdout.print(
        "baseline row: cosines between random pairs of positions from different images"
        + (
            "; change rate of random codes drawn with the same usage"
            if result["baselines"]["token_change_random_codes"] is not None
            else ""
        )
        + "; centred = dataset mean vector removed; SNR dB = 10 log10(spread of clean latents / mean squared change)",
        markup=False,
        style="dim",
    )
    stdout.print(f"{change}: {p['change_measure']}", markup=False, style="dim")
    for name, r in result["perturbations"].items():
        if r.get("reason"):
            stdout.print(f"{name}: not measured: {r['reason']}", markup=False, style="dim")
    print_warnings(result)

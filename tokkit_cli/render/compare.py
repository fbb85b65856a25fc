"""``tokkit eval compare``: one column per tokenizer, one row per metric; the files written."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout
from tokkit_cli.render.common import fmt, interval, plus_minus, print_warnings


def _cell(row: dict[str, Any], c: str) -> str:
    """A value with its interval where the row has one: PSNR [lo, hi], gFID ± std (n seeds)."""
    v = fmt(row.get(c), 3)
    if c in ("psnr", "ssim", "lpips") and row.get(f"{c}_ci"):
        return f"{v} {interval(row[f'{c}_ci'], 3)}"
    if c == "gfid" and row.get("gfid_seeds"):
        return f"{v} {plus_minus(row.get('gfid_std'), 1, len(row['gfid_seeds']))}"
    return v


def render_decisions(decisions: list[dict[str, Any]]) -> None:
    """One row per pair and measure: the paired difference, its 95% interval and the verdict."""
    if not decisions:
        return
    table = Table(title="paired decisions (a - b; a verdict only where the 95% interval excludes 0)")
    for col in ("measure", "a", "b", "a - b", "95% interval", "verdict"):
        table.add_column(col, justify="right" if col in ("a - b", "95% interval") else "left")
    for d in decisions:
        verdict = d["verdict"] if d["verdict"] != "inconclusive" else d.get("text", "inconclusive")
        table.add_row(d["measure"], str(d["a"]), str(d["b"]), fmt(d["diff"], 4), interval(d["ci95"], 4), verdict)
    stdout.print(table)


# (row key, shown label, baseline row key or None)
LATENT_SHOWN = (
    ("high_freq_share", "high-freq share (linear)", "rgb_high_freq_share"),
    ("high_freq_share_log", "high-freq share (log)", None),
    ("equivariance_scale_0.5", "equivariance PSNR x0.5", "identity_psnr"),
    ("interp_fid", "interp FID", "interp_rfid"),
    ("suggested_scale", "suggested scale", "config_scale"),
)


def render_latent_diagnostics(rows: list[dict[str, Any]], corr: dict[str, Any] | None) -> None:
    """Latent diagnostics per tokenizer (value / baseline), and their Spearman rho with gFID for 3+ tokenizers."""
    if not rows or "high_freq_share" not in rows[0]:
        return
    table = Table(title="latent diagnostics (value / baseline: RGB, identity, rFID, recorded scale)")
    table.add_column("diagnostic")
    for row in rows:
        table.add_column(str(row["tokenizer"]), justify="right", overflow="fold")
    if corr is not None:
        table.add_column("Spearman vs gFID", justify="right")
    for key, label, base in LATENT_SHOWN:
        cells = [fmt(r.get(key), 3) + (f" / {fmt(r.get(base), 3)}" if base else "") for r in rows]
        if corr is not None:
            c = corr["spearman"].get(key)
            cells.append(f"{fmt(c['rho'], 2)} (n={c['n']})" if c else "-")
        table.add_row(label, *cells)
    stdout.print(table)
    if corr is not None:
        stdout.print(f"warning: {corr['warning']}", style="yellow", markup=False)


def render_compare(result: dict[str, Any], data: str) -> None:
    """A dozen metrics fit a terminal better as rows: the table is transposed."""
    rows = result["rows"]
    table = Table(
        title=f"compare on {data} ({result['protocol']['num_images']} images, {result['protocol']['image_size']}px)"
    )
    table.add_column("metric")
    for row in rows:
        table.add_column(str(row["tokenizer"]), justify="right", overflow="fold")
    for c in result["columns_shown"]:
        if c != "tokenizer":
            table.add_row(c, *[_cell(row, c) for row in rows])
    stdout.print(table)
    render_decisions(result.get("decisions") or [])
    render_latent_diagnostics(rows, result.get("diagnostic_correlations"))
    for name, path in result["files"].items():
        stdout.print(f"wrote {name}: {path}", markup=False)
    print_warnings(result)

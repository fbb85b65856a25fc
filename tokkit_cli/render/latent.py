"""``tokkit eval latent``: each diagnostic beside its baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout
from tokkit_cli.render.common import fmt, print_protocol, print_warnings, short


def _scale(v: Any) -> str:
    if isinstance(v, list):
        return "per channel [" + ", ".join(f"{x:.4g}" for x in v[:4]) + (", ...]" if len(v) > 4 else "]")
    return fmt(v)


def _fd_flag(result: dict[str, Any]) -> str:
    n = result.get("interp_fid_n")
    return f" (n={n}, rank-deficient)" if result.get("interp_rank_deficient") else f" (n={n})"


def latent_rows(table: Table, r: dict[str, Any]) -> None:
    """Statistics and spectrum rows (value, baseline, how) of a latent result, on ``table``."""
    table.add_row("global mean / std", f"{fmt(r['global_mean'])} / {fmt(r['global_std'])}", "0 / 1",
                  "all channels and positions")  # fmt: skip
    recorded = f"{_scale(r['config_shift'])} / {_scale(r['config_scale'])}"
    table.add_row("suggested shift / scale", f"{fmt(r['suggested_shift'])} / {fmt(r['suggested_scale'])}",
                  recorded, "baseline: what the checkpoint records")  # fmt: skip
    if r.get("spectrum_reason"):  # a 1-D tokenizer: no spatial spectrum
        table.add_row("high-freq share", "-", "-", "unavailable: " + short(r["spectrum_reason"]))
        return
    base = f"RGB {fmt(r['rgb_high_freq_share'])}, noise {fmt(r['noise_high_freq_share'])}"
    table.add_row("high-freq share (linear)", fmt(r["high_freq_share"]), base, "DCT power, bands 8-15 of 16")
    table.add_row("high-freq share (log)", fmt(r["high_freq_share_log"]),
                  f"RGB {fmt(r['rgb_high_freq_share_log'])}, noise {fmt(r['noise_high_freq_share_log'])}",
                  "log(1+band power), DC dropped (arXiv 2502.14831)")  # fmt: skip


def equivariance_rows(table: Table, r: dict[str, Any]) -> None:
    eq, reasons = r.get("equivariance_psnr"), r.get("equivariance_reasons") or {}
    if eq is None:
        table.add_row("equivariance PSNR", "-", "-", "unavailable: " + short(reasons.get("all")))
        return
    for name, v in eq.items():
        how = "unavailable: " + short(reasons[name]) if v is None else "PSNR(D(T(z)), T(x)), dB"
        table.add_row(f"equivariance {name}", fmt(v, 2), f"identity {fmt(r['identity_psnr'], 2)}", how)


def render_latent(result: dict[str, Any], source: Path) -> None:
    """Statistics, spectrum, equivariance and interpolation FD with their baselines; protocol; warnings."""
    r = result
    table = Table(title=f"latent diagnostics: {source}")
    for col, just in (("diagnostic", "left"), ("value", "right"), ("baseline", "right"), ("how", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    latent_rows(table, r)
    equivariance_rows(table, r)
    if r.get("interp_fid") is not None or r.get("rfid") is not None:
        how = f"FD in {r.get('fid_features')} features vs held-out images{_fd_flag(r)}"
        if r.get("interp_fid") is None:
            how = "unavailable: " + short(r.get("interp_reason"))
        table.add_row("interp FID (slerp 0.5)", fmt(r.get("interp_fid"), 3), f"rFID {fmt(r.get('rfid'), 3)}", how)
    else:
        table.add_row("interp FID", "-", "-", "unavailable: " + short(r.get("interp_reason")))
    f = r.get("features")
    if f is not None:
        table.add_row("pre-quantization features: high-freq share", fmt(f["high_freq_share"]), "-",
                      f"std {fmt(f['global_std'])}, suggested scale {fmt(f['suggested_scale'])}")  # fmt: skip
    stdout.print(table)
    if r.get("scale_warning"):
        stdout.print(f"warning: {r['scale_warning']}", style="yellow", markup=False)
    if r["protocol"].get("tokenizer"):
        print_protocol(r["protocol"])
    print_warnings(result)

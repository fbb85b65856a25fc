"""``tokkit eval recon``: the reconstruction table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout
from tokkit_cli.render.common import fmt, interval, plus_minus, print_protocol, print_warnings, short


def usage_rows(table: Table, u: dict[str, Any] | None) -> None:
    """Codebook usage rows (utilization, perplexity, per scale) of a recon result, on ``table``."""
    if u is None:
        table.add_row("usage", "-", "continuous tokenizer: no codebook")
        return
    table.add_row(
        "utilization", fmt(u["utilization"]), f"{u['codebook_size'] - u['dead_codes']}/{u['codebook_size']} codes"
    )
    table.add_row("perplexity", fmt(u["perplexity"], 1), f"entropy {u['entropy_bits']:.3f} bits")
    for s in u.get("per_scale", []):
        table.add_row(
            f"  scale {s['scale']}",
            fmt(s["utilization"]),
            f"{s['utilization_of_reachable']:.3f} of reachable, perplexity {s['perplexity']:.1f}",
        )


def render_recon(result: dict[str, Any], tokenizer: Path) -> None:
    """PSNR, SSIM, LPIPS, rFID and usage, each with how it was measured; then protocol and warnings."""
    p = result["protocol"]
    table = Table(title=f"reconstruction: {tokenizer}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("how")
    table.add_column("95% interval", justify="right")
    n = result.get("n")
    table.add_row("PSNR (dB)", fmt(result["psnr"], 2), "RGB, [0,1], data_range 1", interval(result.get("psnr_ci"), 2))
    table.add_row(
        "SSIM", fmt(result["ssim"]), "Gaussian 11x11, sigma 1.5, per channel", interval(result.get("ssim_ci"))
    )
    lpips_how = "AlexNet v0.1" if result["lpips"] is not None else "unavailable: " + short(p["lpips"]["reason"])
    table.add_row("LPIPS", fmt(result["lpips"]), lpips_how, interval(result.get("lpips_ci")))
    flag = (
        f"; n={n} <= {result.get('feature_dim')}-d: singular covariance, read KID"
        if result.get("rank_deficient")
        else ""
    )
    table.add_row(f"rFID ({result['rfid_features']})", fmt(result["rfid"], 3),
                  p["rfid"]["features"]["implementation"] + flag, "-")  # fmt: skip
    if "rfid_ref" in result:  # --ref-stats
        ref = p["rfid_ref"]
        table.add_row("rFID vs --ref-stats", fmt(result["rfid_ref"], 3), f"{ref['kind']} file {ref['file']}", "-")
    table.add_row("KID", fmt(result.get("kid"), 3), f"reconstructions vs originals, std: {result.get('kid_std_kind')}",
                  plus_minus(result.get("kid_std")))  # fmt: skip
    usage_rows(table, result["usage"])
    stdout.print(table)
    print_protocol(p)
    print_warnings(result)

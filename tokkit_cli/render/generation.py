"""``tokkit eval generation``: the generation-probe table and the probe's budget line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout
from tokkit_cli.render.common import fmt, plus_minus, print_protocol, print_warnings


def render_generation(result: dict[str, Any], tokenizer: Path, fid_features: str, classes: bool) -> None:
    """gFID (guided with --classes), floor, rFID, bits or diffusion loss; a metric the probe cannot
    define says why in its "how" cell."""
    probe = result["probe"]
    why = probe.get("not_defined", {})
    feats = probe.get("gfid_protocol", {}).get("features", {}).get("spec", fid_features)
    table = Table(title=f"generation probe ({result['order']}, {result['head']} head): {tokenizer}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("how")
    table.add_column("spread", justify="right")
    n_seeds = len(result.get("seeds") or [0])
    spread = {"gfid": plus_minus(result.get("gfid_std"), 3, n_seeds), "kid": plus_minus(result.get("kid_std"), 4)}
    rows = [
        (f"gFID ({feats})", "gfid", 3, "samples vs training images"),
        ("gFID, guided", "gfid_guided", 3, f"classifier-free guidance w = {probe['config']['cfg_scale']}"),
        ("gFID vs held-out", "gfid_heldout", 3, "samples vs held-out images (memorisation check)"),
        ("floor", "gfid_floor", 3, "held-out real vs training images"),
        ("rFID", "rfid", 3, "held-out reconstructions vs training images"),
        ("KID", "kid", 4, "samples of all seeds vs training images"),
        ("bits per token", "bits_per_token", 4, probe.get("measure", "")),
        ("bits per image", "bits_per_image", 1, "bits per token x tokens"),
        ("diffusion loss", "diffusion_loss", 4, "held-out eps-MSE"),
    ]
    for name, key, digits, how in rows:
        if (key == "gfid_guided" and not classes) or (key == "kid" and result.get("kid") is None):
            continue
        v = result[key]
        table.add_row(name, fmt(v, digits), how if v is not None else why.get(key, "-"), spread.get(key, ""))
    for scale, bits in (probe.get("bits_per_scale") or {}).items():
        table.add_row(f"  scale {scale}", fmt(bits, 4), "bits per token of this scale")
    stdout.print(table)
    cfg, b = probe["config"], probe["budget"]
    stdout.print(
        f"probe: {cfg['n_layer']} layers x {cfg['d_model']} wide, {cfg['steps']} steps x {cfg['batch_size']} sequences "
        f"of {probe['sequence_length']} tokens ({probe['order']}, {probe['tokens_from']}), {b['parameters']:,} "
        f"parameters (head {b['head_parameters']:,}), ~{b['train_flops_approx']:.2g} FLOPs; "
        f"{probe['num_train']} train / {probe['num_val']} held-out images",
        markup=False,
        style="dim",
    )
    print_protocol(result["protocol"])
    print_warnings(result)


def render_probe_check(result: dict[str, Any], tokenizer: Path) -> None:
    """Per measure: the ladder's means ± std per level, Spearman with the level, resolved pairs."""
    levels = result["levels"]
    table = Table(title=f"probe check (ladder of random codes): {tokenizer}")
    table.add_column("measure")
    for p in levels:
        table.add_column(f"level {p:g}", justify="right")
    table.add_column("Spearman", justify="right")
    table.add_column("resolved pairs", justify="right")
    for name, m in result["measures"].items():
        cells = [f"{mu:.3f} {plus_minus(sd, 3)}" for mu, sd in zip(m["mean"], m["std"], strict=True)]
        table.add_row(name, *cells, fmt(m["spearman"], 2), f"{m['resolved_pairs']} of {m['pairs']}")
    stdout.print(table)
    for name, m in result["measures"].items():
        verdict = "separates the ladder" if m["resolved_pairs"] == m["pairs"] else "does not separate every rung"
        need = f"; about {m['seeds_needed']} seeds would resolve the closest rungs" if m.get("seeds_needed") else ""
        stdout.print(f"{name}: this budget {verdict} ({m['resolved_pairs']} of {m['pairs']} pairs){need}", markup=False)
    if not result["measures"]:
        stdout.print("no measure was defined for every seed (gFID needs --samples)", markup=False)

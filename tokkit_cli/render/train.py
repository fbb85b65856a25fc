"""``tokkit train``: the run's summary."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def render_train(result: dict[str, Any], architecture: str, resume: bool) -> None:
    """Run dir, steps (and resume point), PSNR start -> end, codebook usage, checkpoint, time."""
    table = Table(title=f"train {architecture}", show_header=False)
    table.add_row("run", result["run_dir"])
    table.add_row("steps", str(result["steps"]) + (f" (resumed at {result['resumed_from']})" if resume else ""))
    table.add_row("PSNR start -> end (dB)", f"{_fmt(result['psnr_start'])} -> {_fmt(result['psnr_end'])}")
    table.add_row("codebook usage (eval images)", _fmt(result["usage_end"], ".3f"))
    table.add_row("checkpoint", result["final_checkpoint"])
    table.add_row("time (s)", f"{result['seconds']:.1f}")
    stdout.print(table)

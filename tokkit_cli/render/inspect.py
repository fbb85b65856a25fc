"""``tokkit inspect codebook|features|tokens``: statistics tables, then the files written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout
from tokkit_cli.render.common import print_files


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _stats_line(d: dict[str, Any] | None) -> str:
    if not d:
        return "-"
    return ", ".join(f"{k} {_fmt(v)}" for k, v in d.items() if not isinstance(v, (dict, list)))


def _most_used(u: dict[str, Any]) -> str:
    return ", ".join(f"{c['code']} ({c['fraction']:.2%})" for c in u["most_used"][:5])


def _render_latents(r: dict[str, Any], t: Table) -> None:
    """A continuous tokenizer: latent statistics on ``t``, then a per-channel table."""
    lat = r["latent"]
    stdout.print(f"[yellow]{r['note']}[/yellow]")
    t.add_row("latent channels", str(r["dim"]))
    t.add_row("latent grid", "x".join(map(str, lat["grid"])))
    t.add_row("images", _fmt(r["num_images"]))
    t.add_row(
        "values",
        f"mean {_fmt(lat['mean'])}, std {_fmt(lat['std'])}, min {_fmt(lat['min'])}, max {_fmt(lat['max'])}",
    )
    t.add_row("vector L2 norm", _stats_line(r["norm"]))
    stdout.print(t)
    ch = Table(title="per channel")
    for col in ("channel", "mean", "std", "min", "max"):
        ch.add_column(col, justify="right")
    per = lat["per_channel"]
    for c in range(len(per["mean"])):
        ch.add_row(str(c), *(_fmt(per[k][c]) for k in ("mean", "std", "min", "max")))
    stdout.print(ch)


def _usage_rows(r: dict[str, Any], t: Table) -> None:
    u = r["usage"]
    if u is None:
        t.add_row("usage", "pass --data to measure usage")
        return
    t.add_row("images", _fmt(r["num_images"]))
    t.add_row("tokens", _fmt(u["num_tokens"]))
    t.add_row("utilization", f"{u['utilization']:.1%}")
    t.add_row("perplexity", f"{_fmt(u['perplexity'])} (of K={r['codebook_size']})")
    t.add_row("entropy", f"{_fmt(u['entropy_bits'])} bits")
    t.add_row("dead codes", _fmt(u["dead_codes"]))
    t.add_row("most used", _most_used(u))
    t.add_row("least used", ", ".join(f"{c['code']} ({c['count']})" for c in u["least_used"][:5]))


def _per_scale_table(u: dict[str, Any]) -> Table:
    s = Table(title="per scale")
    for col in ("scale", "grid", "utilization", "perplexity", "dead codes", "tokens"):
        s.add_column(col, justify="right")
    for p in u["per_scale"]:
        s.add_row(
            str(p["scale"]), "x".join(map(str, p["grid"])), f"{p['utilization']:.1%}", _fmt(p["perplexity"]),
            _fmt(p["dead_codes"]), _fmt(p["num_tokens"]),
        )  # fmt: skip
    return s


def render_codebook(r: dict[str, Any]) -> None:
    """Codes, norms, near duplicates and usage of a discrete tokenizer; latents of a continuous one."""
    t = Table(title=f"inspect codebook {r['checkpoint']}", show_header=False)
    t.add_row("architecture", f"{r['architecture']} ({r['kind']})")
    if r["codebook_size"] is None:
        _render_latents(r, t)
        print_files(r["files"])
        return
    nd = r["near_duplicates"] or {}
    t.add_row("codebook size K", _fmt(r["codebook_size"]))
    t.add_row("code dim", _fmt(r["dim"]))
    t.add_row("L2 norm", _stats_line(r["norm"]))
    t.add_row("nearest-neighbour distance", _stats_line(r["nearest_neighbor"]))
    if nd:
        pairs = ", ".join(f"{p['a']}~{p['b']} ({_fmt(p['distance'])})" for p in nd["closest_pairs"][:5])
        t.add_row(
            "near duplicates",
            f"{nd['pairs']} pairs, {nd['codes_with_duplicate']} codes within {_fmt(nd['threshold'])}"
            + (f": {pairs}" if pairs else ""),
        )
    _usage_rows(r, t)
    stdout.print(t)
    u = r["usage"]
    if u is not None and "per_scale" in u:
        stdout.print(_per_scale_table(u))
    print_files(r["files"])


def render_features(r: dict[str, Any], store: Path) -> None:
    """Shape, dtype, provenance, completeness and norms of a feature store."""
    c = r["completeness"]
    t = Table(title=f"inspect features {store}", show_header=False)
    t.add_row("shape (N, T, D)", " x ".join(map(str, r["shape"])))
    t.add_row("dtype", r["dtype"])
    t.add_row("file kind", r["source_kind"])
    t.add_row("encoder / layer", f"{r['encoder']} / {r['layer']}" if r["encoder"] else "unknown (not from tokkit)")
    t.add_row("image size / grid", f"{r['image_size']} / {r['grid']}")
    t.add_row("rows written", f"{c['committed']:,} of {c['num_rows']:,}" + ("" if c["complete"] else " (INCOMPLETE)"))
    t.add_row(f"L2 norm ({r['sample']['rows']} rows)", _stats_line(r["norm"]))
    t.add_row("non-finite vectors", _fmt(r["nonfinite_vectors"]))
    stdout.print(t)
    print_files(r["files"])


def render_tokens(r: dict[str, Any], store: Path) -> None:
    """Code usage and per-position entropy of a token store."""
    u, e = r["usage"], r["position_entropy_bits"]
    t = Table(title=f"inspect tokens {store}", show_header=False)
    t.add_row("token maps", f"{r['num_rows']:,} of grid {'x'.join(map(str, r['grid']))}")
    t.add_row("tokenizer", str(r["tokenizer"]))
    t.add_row("codebook size K", _fmt(r["codebook_size"]))
    t.add_row("utilization", f"{u['utilization']:.1%}")
    t.add_row("perplexity", _fmt(u["perplexity"]))
    t.add_row("dead codes", _fmt(u["dead_codes"]))
    t.add_row("most used", _most_used(u))
    t.add_row(
        "per-position entropy",
        f"mean {_fmt(e['mean'])}, min {_fmt(e['min'])}, max {_fmt(e['max'])} bits (at most {_fmt(e['max_possible'])})",
    )
    stdout.print(t)
    print_files(r["files"])

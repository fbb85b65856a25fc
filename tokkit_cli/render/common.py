"""Pieces several renderers share: number formats, the protocol and warning lines, key-value tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout


def fmt(v: Any, digits: int = 4) -> str:
    """A metric value: fixed ``digits`` for floats, ``-`` for none."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def interval(ci: Any, digits: int = 4) -> str:
    """``[lo, hi]`` of a 95% interval, ``-`` when there is none."""
    if not ci or ci[0] is None or ci[1] is None:
        return "-"
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def plus_minus(std: Any, digits: int = 3, n: int | None = None, unit: str = "seeds") -> str:
    """``± std`` (with ``(n seeds)``), ``-`` without a std."""
    if std is None:
        return "-" if n is None else f"({n} {unit[:-1] if n == 1 else unit})"
    return f"± {std:.{digits}f}" + (f" ({n} {unit})" if n is not None else "")


def short(reason: str | None) -> str:
    """The first clause of a reason (the full text is in --json)."""
    return (reason or "").split(" (")[0]


def print_warnings(result: dict[str, Any]) -> None:
    """The protocol's warnings, one yellow line each."""
    for w in result.get("protocol", {}).get("warnings", []):
        stdout.print(f"warning: {w}", style="yellow", markup=False)


def kind(p: dict[str, Any]) -> str | None:
    """The tokenizer kind a protocol records (discrete, multi-scale, continuous)."""
    return p.get("tokenizer", {}).get("kind")


def print_protocol(p: dict[str, Any]) -> None:
    """One dim line: images, data, size, transform and tokenizer of an eval protocol."""
    tok = p.get("tokenizer", {})
    stdout.print(
        f"protocol: {p.get('num_images')} images of {p.get('data')} at {p.get('image_size')}px "
        f"({p.get('transform')}); tokenizer {tok.get('architecture')} ({tok.get('kind')}) {tok.get('path') or ''}",
        markup=False,
        style="dim",
    )


def key_value_table(title: str, rows: list[tuple[str, Any]]) -> None:
    """A headerless two-column table of ``(name, value)`` rows."""
    table = Table(title=title, show_header=False)
    for k, v in rows:
        table.add_row(k, str(v))
    stdout.print(table)


def skipped(r: dict[str, Any]) -> str:
    """``N: a, b, c ...``: the count of unreadable images and the first names."""
    names = r.get("skipped") or []
    return f"{r.get('num_skipped', 0)}" + (
        f": {', '.join(names[:3])}" + (" ..." if len(names) > 3 else "") if names else ""
    )


def print_skipped_paths(paths: list[str]) -> None:
    """One ``skipped: PATH`` line per unreadable image."""
    for path in paths:
        stdout.print(f"  skipped: {path}", markup=False)


def print_files(files: dict[str, str]) -> None:
    """``wrote: a, b``: the files a report wrote (nothing when none)."""
    if files:
        stdout.print("wrote: " + ", ".join(files.values()), markup=False)

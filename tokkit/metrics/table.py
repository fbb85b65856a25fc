"""``eval table``: one results table from saved JSON results, refusing results measured differently.

Accepted: the JSON of ``eval recon``, ``eval generation`` (one tokenizer each; rows of the same checkpoint
are merged into one), ``eval compare`` (its rows) and a ``tokkit demo`` folder (or its ``demo.json``).
Each carries a ``protocol``; results whose protocols
differ in one of ``PROTOCOL_FIELDS`` (what data, how many images, which size, which crop, which feature
network) are refused, naming the first difference, unless ``allow_mixed`` (then those fields become
columns). Intervals travel with their figures: ``psnr_ci`` / ``ssim_ci`` / ``lpips_ci`` (95% over images)
and ``gfid_std`` (over probe seeds).
"""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path
from typing import Any

from tokkit.errors import DataError, UsageError

PROTOCOL_FIELDS = ("data_fingerprint", "num_images", "image_size", "crop", "fid_features")
# (key, header, interval key or None, "ci" | "std")
COLUMNS = [
    ("psnr", "PSNR dB", "psnr_ci", "ci"),
    ("ssim", "SSIM", "ssim_ci", "ci"),
    ("lpips", "LPIPS", "lpips_ci", "ci"),
    ("rfid", "rFID", None, None),
    ("kid", "KID", "kid_std", "std"),
    ("gfid", "gFID", "gfid_std", "std"),
    ("gfid_floor", "gFID floor", None, None),
]
FORMATS = (".md", ".csv", ".html")


def _feature_spec(obj: Any) -> str | None:
    """The feature network's spec, wherever the result's kind records it (a ``features`` /
    ``fid_features`` description with a ``spec``), None when the result has none."""
    if isinstance(obj, dict):
        for key in ("fid_features", "features"):
            v = obj.get(key)
            if isinstance(v, dict) and isinstance(v.get("spec"), str):
                return v["spec"]
        for v in obj.values():
            found = _feature_spec(v)
            if found is not None:
                return found
    return None


def _protocol_key(obj: dict[str, Any]) -> dict[str, Any]:
    p = obj["protocol"]
    return {**{k: p.get(k) for k in PROTOCOL_FIELDS[:-1]}, "fid_features": _feature_spec(obj)}


def _row(label: str, values: dict[str, Any]) -> dict[str, Any]:
    keys = [k for c in COLUMNS for k in (c[0], c[2]) if k] + ["gfid_seeds"]  # per-seed gFIDs: the plot's intervals
    return {"tokenizer": label, **{k: values.get(k) for k in keys}}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"'{path}' is not a JSON result ({type(e).__name__})") from None


def _demo_result(path: Path, obj: dict[str, Any]) -> dict[str, Any]:
    """A ``tokkit demo`` folder's ``demo.json`` with the protocol of its ``eval recon`` results (every row
    of a demo is measured under one protocol: the first tokenizer's ``eval/NAME.json`` stands for all)."""
    name = str(obj["rows"][0].get("tokenizer")) if obj["rows"] else ""
    per_tok = path.parent / "eval" / f"{name}.json"
    protocol = (_read_json(per_tok).get("recon") or {}).get("protocol") if per_tok.is_file() else None
    if not isinstance(protocol, dict):
        raise DataError(f"'{path}' is a demo result without its folder's eval/{name}.json (the protocol)",
                        hint="pass the demo folder itself, or its demo.json where the demo wrote it")  # fmt: skip
    return {"rows": obj["rows"], "protocol": protocol}


def _result_rows(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, protocol key) of one saved result (or demo folder); a file that is not one -> one DataError."""
    if path.is_dir() and (path / "demo.json").is_file():
        path = path / "demo.json"
    obj = _read_json(path)
    if isinstance(obj, dict) and "verdict" in obj and isinstance(obj.get("rows"), list) and "protocol" not in obj:
        obj = _demo_result(path, obj)
    if not isinstance(obj, dict) or not isinstance(obj.get("protocol"), dict):
        raise DataError(f"'{path}' holds no tokkit result with a protocol (eval recon, generation, compare --json "
                        "or a demo folder)")  # fmt: skip
    if isinstance(obj.get("rows"), list):  # eval compare, demo
        return [_row(r["tokenizer"], r) for r in obj["rows"]], _protocol_key(obj)
    tok = obj["protocol"].get("tokenizer") or {}
    label = Path(str(tok.get("path") or path.stem)).name
    if label in ("final", "last"):  # checkpoints/final of a training run: name it by the run folder
        label = Path(str(tok.get("path"))).parent.parent.name or label
    return [_row(label, obj)], _protocol_key(obj)


def _check_protocols(keys: list[tuple[Path, dict[str, Any]]], allow_mixed: bool) -> list[str]:
    """The protocol fields that differ between results (refused unless ``allow_mixed``)."""
    first_path, first = keys[0]
    differ = [f for f in PROTOCOL_FIELDS if any(k[f] != first[f] for _, k in keys[1:])]
    if differ and not allow_mixed:
        f = differ[0]
        path, other = next((p, k) for p, k in keys[1:] if k[f] != first[f])
        raise UsageError(
            f"results measured differently: {f} is {first[f]!r} in '{first_path.name}' and {other[f]!r} in "
            f"'{path.name}'",
            hint="evaluate them under one protocol, or pass --allow-mixed to show the fields as columns",
        )
    return differ


def _merge(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per tokenizer label: a recon and a generation result of one checkpoint fill one row."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        have = out.setdefault(r["tokenizer"], dict(r))
        for k, v in r.items():
            if have.get(k) is None and v is not None:
                have[k] = v
    return list(out.values())


def build_table(paths: list[str | Path], allow_mixed: bool = False) -> dict[str, Any]:
    """{"columns", "rows", "protocol", "mixed"} from saved results; see the module docstring."""
    if not paths:
        raise UsageError("give at least one result file")
    rows: list[dict[str, Any]] = []
    keys: list[tuple[Path, dict[str, Any]]] = []
    for p in map(Path, paths):
        got, key = _result_rows(p)
        keys.append((p, key))
        rows += [{**r, **({f"protocol_{f}": key[f] for f in PROTOCOL_FIELDS} if allow_mixed else {})} for r in got]
    differ = _check_protocols(keys, allow_mixed)
    columns = ["tokenizer"] + [c[0] for c in COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    if differ:
        columns += [f"protocol_{f}" for f in differ]
    else:
        rows = [{k: v for k, v in r.items() if not k.startswith("protocol_")} for r in _merge(rows)]
    return {"columns": columns, "rows": rows, "protocol": keys[0][1], "mixed": differ}


def cell(row: dict[str, Any], key: str) -> str:
    v = row.get(key)
    if v is None:
        return "-"
    if not isinstance(v, float):
        return str(v)
    spec = next((c for c in COLUMNS if c[0] == key), None)
    extra = row.get(spec[2]) if spec and spec[2] else None
    if spec and spec[3] == "ci" and extra and None not in extra:
        return f"{v:.4g} [{extra[0]:.4g}, {extra[1]:.4g}]"
    if spec and spec[3] == "std" and extra is not None:
        return f"{v:.4g} ± {extra:.2g}"
    return f"{v:.4g}"


def header(key: str) -> str:
    h = next((c[1] for c in COLUMNS if c[0] == key), key)
    return h + (" [95% CI]" if any(c[0] == key and c[3] == "ci" for c in COLUMNS) else "")


def render_table(table: dict[str, Any], fmt: str) -> str:
    """The table as markdown, CSV (raw numbers, intervals in their own columns) or a standalone HTML page."""
    cols, rows = table["columns"], table["rows"]
    if fmt == ".csv":
        keys = cols + [c[2] for c in COLUMNS if c[2] and c[0] in cols]
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(keys)
        w.writerows([[json.dumps(r.get(k)) if isinstance(r.get(k), list) else r.get(k) for k in keys] for r in rows])
        return buf.getvalue()
    cells = [[cell(r, k) for k in cols] for r in rows]
    if fmt == ".md":
        lines = ["| " + " | ".join(header(k) for k in cols) + " |", "|" + "---|" * len(cols)]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells]) + "\n"
    if fmt == ".html":
        th = "".join(f"<th>{html.escape(header(k))}</th>" for k in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells)
        return f'<!doctype html><meta charset="utf-8"><table><tr>{th}</tr>{body}</table>\n'
    raise UsageError(f"--out must end in one of {', '.join(FORMATS)}, got '{fmt}'")


def write_table(table: dict[str, Any], out: str | Path) -> Path:
    from tokkit.io.files import write_bytes_atomic

    out = Path(out)
    write_bytes_atomic(out, render_table(table, out.suffix.lower()).encode("utf-8"))
    return out


__all__ = ["PROTOCOL_FIELDS", "build_table", "cell", "header", "render_table", "write_table"]


def write_plot(table: dict[str, Any], out: str | Path) -> Path:
    """The rFID-vs-gFID figure of the table's rows (PNG, written atomically); rows without both are named."""
    from tokkit.analysis.plots import fid_figure
    from tokkit.io.files import write_bytes_atomic

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UsageError(f"--plot must end in .png, got '{out.name}'")
    key = table["protocol"]
    subtitle = ", ".join(f"{k} {key[k]}" for k in ("num_images", "image_size", "crop") if key.get(k) is not None)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, fid_figure(table["rows"], str(key.get("fid_features") or "features"), subtitle))
    return out

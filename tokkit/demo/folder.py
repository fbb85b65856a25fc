"""The demo folder's files: what the stages write and the report reads back.

out/settings.json             the settings of the run (a rerun with others is refused)
out/eval/NAME.json            one tokenizer's row and results
out/eval/NAME_arrays.npz      its per-image and per-seed values (what paired decisions need)
out/eval/probe_check.json     the probe-check ladder (not a tokenizer)
out/latent/NAME.json          one tokenizer's latent diagnostics (eval latent)
out/demo.json                 the report's rows, verdict and decisions
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from tokkit.analysis.report import write_bytes_atomic
from tokkit.errors import UsageError

PROBE_CHECK = "probe_check"  # eval/probe_check.json: not a tokenizer's results


def write_json(path: Path, obj: Any) -> None:
    from tokkit.metrics.compare import _strict  # numpy scalars and NaN -> JSON

    write_bytes_atomic(path, (json.dumps(_strict(obj), indent=2) + "\n").encode())


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """``eval/NAME_arrays.npz`` back as a dict (empty when the file is missing: an older run)."""
    if not path.is_file():
        return {}
    with np.load(io.BytesIO(path.read_bytes())) as z:
        return {k: z[k] for k in z.files}


def load_rows(out: str | Path) -> list[dict[str, Any]]:
    """The comparison rows of a finished (or partly finished) demo folder, in the demo's order."""
    out = Path(out)
    path = out / "demo.json"
    if path.is_file():
        return json.loads(path.read_text())["rows"]
    settings = out / "settings.json"
    if not settings.is_file():
        raise UsageError(f"'{out}' holds no demo run", hint="run tokkit demo --out DIR first")
    return [json.loads(p.read_text())["row"] for p in tokenizer_jsons(out)]


def load_decisions(out: str | Path) -> list[dict[str, Any]]:
    """The paired decisions of a demo folder's last report (``demo.json``); empty before the first report."""
    path = Path(out) / "demo.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text()).get("decisions") or []


def latent_json(out: str | Path, name: str) -> Path:
    """``out/latent/NAME.json``: one tokenizer's ``evaluate_latent`` result."""
    return Path(out) / "latent" / f"{name}.json"


def tokenizer_jsons(out: Path) -> list[Path]:
    """``out/eval/NAME.json`` of every evaluated tokenizer, by name (not probe_check.json)."""
    return [p for p in sorted((Path(out) / "eval").glob("*.json")) if p.stem != PROBE_CHECK]

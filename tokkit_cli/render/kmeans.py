"""``tokkit fit-kmeans``: the fit's summary, and the keys its --json keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tokkit.clustering.kmeans import SUMMARY_KEYS
from tokkit_cli.render.common import key_value_table, skipped

JSON_KEYS = (*SUMMARY_KEYS, "num_skipped", "skipped")


def fit_json(r: dict[str, Any]) -> dict[str, Any]:
    """The fit result as --json prints it: JSON_KEYS, in that order."""
    return {key: r[key] for key in JSON_KEYS}


def render_fit(r: dict[str, Any], out: Path) -> None:
    """K x dim, points, init, backend, iterations, objective, empty clusters fixed, time."""
    key_value_table(
        f"k-means -> {out}",
        [
            ("K x dim", f"{r['k']} x {r['dim']}"),
            ("points used", f"{r['num_points']} of {r['points_available']}"),
            ("init", f"{r['init']} (on {r['init_sample']} points)"),
            ("backend", f"{r['backend']} ({r['device']})"),
            ("iterations", f"{r['iterations']} of {r['niter']} (tol {r['tol']:g})"),
            ("objective (mean sq. L2)", f"{r['objective']:.6g}"),
            ("first -> last", f"{r['objective_history'][0]:.6g} -> {r['objective_history'][-1]:.6g}"),
            ("empty clusters fixed", r["empty_clusters_fixed"]),
            ("images skipped (unreadable)", skipped(r)),
            ("seconds", f"{r['seconds']:.1f}"),
        ],
    )

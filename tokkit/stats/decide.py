"""Paired decisions "A beats B": only where the 95% paired interval excludes 0.

A decision is a plain, JSON-able dict::

    {"measure": "psnr", "a": "A", "b": "B", "diff": a - b, "ci95": [lo, hi],
     "verdict": "A" | "B" | "inconclusive", "n": 5, "needed": None | int}

``verdict`` names the better tokenizer when the interval lies strictly on one side of 0 (lo > 0 or
hi < 0), else "inconclusive"; ``needed`` is then the paired sample size that would resolve the
observed difference with 80% power (``seeds_needed``), None where that is undefined (no interval,
no observed difference) or the verdict is decided. Undefined numbers are None.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from tokkit.errors import DataError, UsageError
from tokkit.stats.intervals import PairedResult, paired_diff_ci
from tokkit.stats.power import seeds_needed

#: Whether a larger value of a measure is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    # reconstruction
    "psnr": True,
    "ssim": True,
    "lpips": False,
    "mse": False,
    # distributions (Frechet / kernel distances)
    "rfid": False,
    "gfid": False,
    "fid": False,
    "kid": False,
    # stability
    "change_rate": False,  # token change rate under a perturbation
    "cosine": True,
    "centred_cosine": True,
    "latent_snr_db": True,
    # codebook usage
    "utilization": True,
    "perplexity": True,
}

DECISION_KEYS = ("measure", "a", "b", "diff", "ci95", "verdict", "n", "needed")


def is_higher_better(measure: str) -> bool:
    """Whether a larger ``measure`` is better (``HIGHER_IS_BETTER``); UsageError for an unknown one."""
    try:
        return HIGHER_IS_BETTER[measure]
    except (KeyError, TypeError):
        known = ", ".join(sorted(HIGHER_IS_BETTER))
        raise UsageError(
            f"no direction known for measure {measure!r}",
            hint=f"pass higher_is_better=, or use one of: {known}",
        ) from None


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def decide(
    measure: str,
    a: str,
    b: str,
    result: PairedResult | Any,
    higher_is_better: bool | None = None,
) -> dict[str, Any]:
    """The decision between ``a`` and ``b`` from a paired result of a - b (``PairedResult``-like:
    ``diff``, ``lo``, ``hi``, ``sd_diff``, ``n``, optionally ``level``, which must be 0.95).

    ``higher_is_better`` defaults to ``is_higher_better(measure)``. The unit of ``n`` and ``needed``
    (seeds, images) is the result's; ``describe`` words it.
    """
    if higher_is_better is None:
        higher_is_better = is_higher_better(measure)
    level = float(getattr(result, "level", 0.95))
    if level != 0.95:
        raise UsageError(f"a decision reports a 95% interval (ci95); this result is at level {level}")
    diff, lo, hi = _num(result.diff), _num(result.lo), _num(result.hi)
    if diff is None:
        raise DataError(f"{measure}: the difference {a} - {b} is not finite ({result.diff})")
    if lo is not None and hi is not None and lo > hi:
        raise DataError(f"{measure}: interval [{lo}, {hi}] is reversed")
    n = int(result.n)
    if lo is not None and lo > 0:
        verdict = a if higher_is_better else b
    elif hi is not None and hi < 0:
        verdict = b if higher_is_better else a
    else:
        verdict = "inconclusive"
    needed = seeds_needed(_num(result.sd_diff), diff) if verdict == "inconclusive" and lo is not None else None
    return {
        "measure": measure,
        "a": a,
        "b": b,
        "diff": diff,
        "ci95": [lo, hi],
        "verdict": verdict,
        "n": n,
        "needed": needed,
    }


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _units(k: int, unit: str) -> str:
    return f"{k} {unit[:-1] if k == 1 and unit.endswith('s') else unit}"


def describe(decision: Mapping[str, Any], unit: str = "seeds") -> str:
    """One line for a decision, e.g. ``"A better by 12.1 (95% CI 8.9..15.3, 5 seeds, paired)"``,
    ``"inconclusive (about 9 seeds would resolve 4.1)"``, ``"tie (identical)"``."""
    diff, (lo, hi), n = decision["diff"], decision["ci95"], decision["n"]
    verdict = decision["verdict"]
    if verdict not in ("inconclusive", decision["a"], decision["b"]):
        raise DataError(f"not a decision: verdict {verdict!r} is neither 'inconclusive' nor a or b")
    if verdict != "inconclusive":
        # the winner's advantage, a positive interval (it excludes 0, so both ends share a sign)
        lo_adv, hi_adv = sorted((abs(lo), abs(hi)))
        return (
            f"{verdict} better by {_fmt(abs(diff))} (95% CI {_fmt(lo_adv)}..{_fmt(hi_adv)}, {_units(n, unit)}, paired)"
        )
    if diff == 0 and lo == 0 and hi == 0:
        return "tie (identical)"
    if lo is None or hi is None:
        return f"inconclusive ({_units(n, unit)}: no interval)"
    needed = decision.get("needed")
    if needed is None:
        return f"inconclusive (95% CI {_fmt(lo)}..{_fmt(hi)}, {_units(n, unit)}, paired)"
    return f"inconclusive (about {_units(needed, unit)} would resolve {_fmt(abs(diff))})"


def pairwise_decisions(
    values: Mapping[str, Any],
    measure: str,
    higher_is_better: bool | None = None,
    paired: Callable[[Any, Any], PairedResult] = paired_diff_ci,
) -> list[dict[str, Any]]:
    """Decisions for every pair (a, b) of ``values`` in input order (a before b).

    ``values`` maps a tokenizer name to its per-seed (or per-image) values, the same units in the
    same order for every name. ``paired(values[a], values[b])`` makes the paired result
    (default: the t interval of the differences); pass e.g. a closure around ``paired_bootstrap``
    for a set statistic such as rFID, with ``values`` mapping names to what the closure needs.
    """
    if higher_is_better is None:
        higher_is_better = is_higher_better(measure)
    names = list(values)
    return [
        decide(measure, a, b, paired(values[a], values[b]), higher_is_better)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]


__all__ = ["DECISION_KEYS", "HIGHER_IS_BETTER", "decide", "describe", "is_higher_better", "pairwise_decisions"]

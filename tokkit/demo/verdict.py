"""Sentences computed from a demo's rows: DiGIT's verdict and one line under each figure.

Nothing here is written in advance: every statement is a comparison of this run's numbers, so the
page says what this run shows (and a different run can say the opposite).

DiGIT's ordering (Zhu et al. 2024): discriminative tokens (k-means over a frozen SSL encoder) are
more stable and easier to generate from than a VQ's, while the VQ reconstructs better.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _f(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}g}"


def split_rows(rows: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the k-means row, the VQ rows: every other tokenizer with discrete or multi-scale codes)."""
    km = next((r for r in rows if r["architecture"] == "kmeans"), None)
    vqs = [r for r in rows if r is not km and r["kind"] in ("discrete", "multiscale")]
    return km, vqs


@dataclass
class Check:
    """One measure of one claim: does the k-means row beat every VQ row by it?"""

    claim: str  # stability | generation | reconstruction
    measure: str
    kmeans: float | None
    vq: dict[str, float | None]
    better: str  # "lower" or "higher" is better
    kmeans_should_win: bool  # DiGIT: k-means wins stability and generation, the VQ wins reconstruction
    robust: bool  # False for the raw measures a collapsed latent can fake: reported, not decisive

    @property
    def measured(self) -> bool:
        return self.kmeans is not None and any(v is not None for v in self.vq.values())

    @property
    def holds(self) -> bool | None:
        """True: DiGIT's ordering holds against every measured VQ row; False: against none; None: mixed/unmeasured."""
        if not self.measured:
            return None
        wins = []
        for v in self.vq.values():
            if v is None:
                continue
            km_better = self.kmeans < v if self.better == "lower" else self.kmeans > v
            wins.append(km_better == self.kmeans_should_win)
        return True if all(wins) else (False if not any(wins) else None)

    def numbers(self) -> str:
        vq = ", ".join(f"{_f(v)} {k}" for k, v in self.vq.items())
        return f"{_f(self.kmeans)} k-means vs {vq}"


def _ratio(r: dict[str, Any]) -> float | None:
    c, b = r.get("change"), r.get("change_random_codes")
    return c / b if c is not None and b else None


# (claim, measure, value, better, k-means should win, robust)
MEASURES: list[tuple[str, str, Callable[[dict[str, Any]], float | None], str, bool, bool]] = [
    ("stability", "token change rate", lambda r: r.get("change"), "lower", True, False),
    ("stability", "raw cosine", lambda r: r.get("cosine"), "higher", True, False),
    ("stability", "change rate / random-code baseline", _ratio, "lower", True, True),
    ("stability", "centred cosine", lambda r: r.get("cosine_centred"), "higher", True, True),
    ("stability", "latent SNR (dB)", lambda r: r.get("latent_snr_db"), "higher", True, True),
    ("generation", "gFID", lambda r: r.get("gfid"), "lower", True, True),
    ("reconstruction", "rFID", lambda r: r.get("rfid"), "lower", False, True),
    ("reconstruction", "PSNR (dB)", lambda r: r.get("psnr"), "higher", False, True),
]


def digit_checks(rows: list[dict[str, Any]]) -> list[Check]:
    km, vqs = split_rows(rows)
    if km is None or not vqs:
        return []
    return [
        Check(claim, measure, get(km), {r["tokenizer"]: get(r) for r in vqs}, better, should, robust)
        for claim, measure, get, better, should, robust in MEASURES
    ]


def claim_status(checks: list[Check]) -> str | None:
    """ "holds" / "does not hold" / "in part" from the decisive (robust) measures; None when unmeasured."""
    decisive = [c for c in checks if c.measured and c.robust] or [c for c in checks if c.measured]
    if not decisive:
        return None
    states = {c.holds for c in decisive}
    return "holds" if states == {True} else ("does not hold" if states == {False} else "in part")


def digit_verdict(rows: list[dict[str, Any]]) -> str:
    """Whether DiGIT's ordering holds on this run, claim by claim, naming the measures that agree and
    those that do not. Stability is decided by the measures a collapsed latent cannot fake (change rate
    over its random-code baseline, centred cosine, latent SNR); the raw ones are named beside them."""
    checks = digit_checks(rows)
    if not checks:
        return "DiGIT's ordering cannot be checked: this run needs a k-means tokenizer and at least one VQ tokenizer."
    km, vqs = split_rows(rows)
    snr = km.get("snr_quoted_db")
    wording = {
        "stability": "k-means tokens more stable",
        "generation": "k-means tokens easier to generate from",
        "reconstruction": "the VQ reconstructs better",
    }
    parts, by_state = [], {"holds": [], "does not hold": [], "in part": []}
    for claim in ("stability", "generation", "reconstruction"):
        cs = [c for c in checks if c.claim == claim and c.measured]
        state = claim_status(cs)
        if state is None:
            parts.append(f"{wording[claim]}: not measured")
            continue
        by_state[state].append(claim)
        detail = "; ".join(f"{c.measure} {c.numbers()}" for c in cs)
        yes = [c.measure for c in cs if c.holds is True]
        no = [c.measure for c in cs if c.holds is False]
        if yes and no:
            state += f" by {', '.join(yes)}; not by {', '.join(no)}"
        parts.append(f"{wording[claim]}: {state} ({detail})")
    vq_names = ", ".join(r["tokenizer"] for r in vqs)
    if not by_state["does not hold"] and not by_state["in part"]:
        summary = "holds on every claim"
    elif not by_state["holds"] and not by_state["in part"]:
        summary = "does not hold on any claim"
    else:
        words = (("holds", "holds for"), ("does not hold", "not for"), ("in part", "in part for"))
        bits = [f"{w} {', '.join(by_state[k])}" for k, w in words if by_state[k]]
        summary = ", ".join(bits)
    return (
        f"DiGIT's ordering on this data (k-means vs {vq_names}; stability at {snr:g} dB): {summary}. "
        + ". ".join(p[0].upper() + p[1:] for p in parts)
        + "."
    )


def _best(rows: list[dict[str, Any]], key: str, lower: bool) -> dict[str, Any] | None:
    have = [r for r in rows if r.get(key) is not None]
    if not have:
        return None
    return min(have, key=lambda r: r[key]) if lower else max(have, key=lambda r: r[key])


def table_sentence(rows: list[dict[str, Any]]) -> str:
    psnr, rfid, gfid = _best(rows, "psnr", False), _best(rows, "rfid", True), _best(rows, "gfid", True)
    bits = []
    if psnr:
        bits.append(f"{psnr['tokenizer']} reconstructs with the highest PSNR ({psnr['psnr']:.2f} dB)")
    if rfid:
        bits.append(f"{rfid['tokenizer']} has the lowest rFID ({rfid['rfid']:.3g})")
    if gfid:
        bits.append(f"{gfid['tokenizer']} the lowest gFID ({gfid['gfid']:.3g})")
    return ("On this run " + ", ".join(bits) + ".") if bits else "No tokenizer produced reconstructions."


def fid_sentence(rows: list[dict[str, Any]]) -> str:
    have = [r for r in rows if r.get("rfid") is not None and r.get("gfid") is not None]
    floor = next((r["gfid_floor"] for r in rows if r.get("gfid_floor") is not None), None)
    missing = [f"{r['tokenizer']} (n/a: {str(r.get('gfid_reason') or 'no gFID').split(':')[0]})" for r in rows
               if r not in have]  # fmt: skip
    if not have:
        return "No tokenizer has both an rFID and a gFID on this run."
    lo_r, lo_g = _best(have, "rfid", True), _best(have, "gfid", True)
    same = lo_r is lo_g
    text = (
        f"{lo_r['tokenizer']} has both the lowest rFID ({lo_r['rfid']:.3g}) and the lowest gFID ({lo_g['gfid']:.3g})"
        if same
        else f"The best reconstruction ({lo_r['tokenizer']}, rFID {lo_r['rfid']:.3g}) is not the best generator "
        f"({lo_g['tokenizer']}, gFID {lo_g['gfid']:.3g})"
    )
    if floor is not None:
        gap = min(r["gfid"] for r in have) / floor if floor > 0 else None
        text += f"; the real-data floor is {floor:.3g}" + (f" (best gFID = {gap:.1f}x the floor)" if gap else "")
    if missing:
        text += "; not shown: " + ", ".join(missing)
    return text + "."


def stability_sentence(rows: list[dict[str, Any]]) -> str:
    snr = next((r.get("snr_quoted_db") for r in rows), None)
    bits = []
    for key, label, lower in (
        ("change", "changes the fewest tokens", True),
        ("cosine", "keeps the highest raw cosine", False),
        ("cosine_centred", "the highest centred cosine", False),
        ("latent_snr_db", "the highest latent SNR", False),
    ):
        b = _best(rows, key, lower)
        if b:
            bits.append(f"{b['tokenizer']} {label} ({b[key]:.3g})")
    if not bits:
        return "No stability figures on this run."
    raw, cen = _best(rows, "cosine", False), _best(rows, "cosine_centred", False)
    tail = ""
    if raw and cen and raw is not cen:
        tail = (f"; raw cosine and centred cosine disagree: {raw['tokenizer']}'s raw cosine is raised by a shared "
                f"offset (random pairs of its positions agree at {_f(raw.get('cosine_random_pairs'))})")  # fmt: skip
    return f"At {snr:g} dB: " + ", ".join(bits) + tail + "."


def usage_sentence(rows: list[dict[str, Any]]) -> str:
    have = [r for r in rows if r.get("utilization") is not None]
    if not have:
        return "No tokenizer on this run has a codebook."
    hi, lo = _best(have, "utilization", False), _best(have, "utilization", True)
    text = f"{hi['tokenizer']} uses {hi['utilization']:.0%} of its {hi['codebook_size']} codes"
    if lo is not hi:
        text += f", {lo['tokenizer']} {lo['utilization']:.0%} of {lo['codebook_size']}"
    p = _best(have, "perplexity", False)
    return text + f"; the highest perplexity is {p['tokenizer']}'s ({p['perplexity']:.3g})."


def images_sentence(row: dict[str, Any]) -> str:
    text = f"{row['tokenizer']}: PSNR {_f(row.get('psnr'), 4)} dB, SSIM {_f(row.get('ssim'))} over the evaluation set"
    if row.get("gfid") is not None:
        text += f"; probe samples score gFID {row['gfid']:.3g}"
    elif row.get("gfid_reason"):
        text += f"; no probe samples ({str(row['gfid_reason']).split(':')[0]})"
    return text + "."

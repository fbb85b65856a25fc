"""Sentences computed from a demo's rows: DiGIT's verdict and one line under each figure.

Nothing here is written in advance: every statement is a comparison of this run's numbers, so the
page says what this run shows (and a different run can say the opposite). The verdict states a claim
as holding or failing only where a paired decision resolves it (``digit_verdict``); the sentences
under the figures describe point estimates and say so.

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


# the claims decided by paired decisions: (claim, decision measure, label, k-means should win). Stability
# is decided by the two measures a collapsed latent cannot fake (per image, on the vectors the rows quote).
DECIDED: list[tuple[str, str, str, bool]] = [
    ("stability", "centred_cosine", "centred cosine", True),
    ("stability", "latent_snr_db", "latent SNR", True),
    ("generation", "gfid", "gFID", True),
    ("reconstruction", "rfid", "rFID", False),
    ("reconstruction", "psnr", "PSNR", False),
]
ROW_KEYS = {"centred_cosine": "cosine_centred"}  # decision measure -> its row key, where they differ
WORDING = {
    "stability": "k-means tokens more stable",
    "generation": "k-means tokens easier to generate from",
    "reconstruction": "the VQ reconstructs better",
}
NOT_RESOLVED = "not resolved at this budget"


@dataclass
class Outcome:
    """One paired decision of one claim against one VQ row, read as DiGIT's claim."""

    claim: str
    label: str  # gFID, rFID, PSNR
    vq: str
    state: str  # "holds" | "does not hold" | NOT_RESOLVED | "not measured"
    detail: str  # the decision in words (resolved), the power estimate (not resolved)

    def text(self) -> str:
        if self.state in (NOT_RESOLVED, "not measured"):
            return f"{self.label} vs {self.vq}: {self.state} ({self.detail})"
        return f"{self.label} vs {self.vq}: {self.state}, {self.detail}"


def find_decision(decisions: list[dict[str, Any]], measure: str, x: str, y: str) -> dict[str, Any] | None:
    """The decision on ``measure`` between ``x`` and ``y`` (either order), None when there is none."""
    return next((d for d in decisions if d["measure"] == measure and {d["a"], d["b"]} == {x, y}), None)


def _unresolved(d: dict[str, Any]) -> str:
    """Why an inconclusive decision is open, with the power estimate where there is one."""
    unit, n, (lo, hi), needed = d.get("unit") or "seeds", d["n"], d["ci95"], d.get("needed")
    if d["diff"] == 0 and lo == 0 and hi == 0:
        return f"identical over {n} {unit}"
    if needed is not None:
        return f"about {needed} {unit} would resolve a difference of {_f(abs(d['diff']))}"
    if lo is None or hi is None:
        return f"no interval from {n} {unit[:-1] if n == 1 else unit}"
    return f"95% CI {_f(lo)}..{_f(hi)} over {n} {unit}, paired"


def _outcome(claim: str, measure: str, label: str, km_wins: bool, km: dict, vq: dict, decisions: list) -> Outcome:
    from tokkit.stats import describe

    d = find_decision(decisions, measure, km["tokenizer"], vq["tokenizer"])
    if d is None:
        key = ROW_KEYS.get(measure, measure)
        if km.get(key) is None or vq.get(key) is None:
            return Outcome(claim, label, vq["tokenizer"], "not measured", "no value on one side")
        return Outcome(claim, label, vq["tokenizer"], NOT_RESOLVED, "no paired decision on this run")
    if d["verdict"] in (km["tokenizer"], vq["tokenizer"]):
        km_better = d["verdict"] == km["tokenizer"]
        text = d.get("text") or describe(d, unit=d.get("unit") or "seeds")
        return Outcome(claim, label, vq["tokenizer"], "holds" if km_better == km_wins else "does not hold", text)
    return Outcome(claim, label, vq["tokenizer"], NOT_RESOLVED, _unresolved(d))


def stability_decided(rows: list[dict[str, Any]], decisions: list[dict[str, Any]] | None) -> bool:
    """Whether the run has paired stability decisions between the k-means row and a VQ row (runs made
    before the per-image stability values were kept have none: their stability is point estimates only)."""
    km, vqs = split_rows(rows)
    stab = {m for c, m, _, _ in DECIDED if c == "stability"}
    return km is not None and any(
        find_decision(decisions or [], m, km["tokenizer"], vq["tokenizer"]) for m in stab for vq in vqs
    )


def digit_outcomes(rows: list[dict[str, Any]], decisions: list[dict[str, Any]] | None = None) -> list[Outcome]:
    """Every decided measure of DiGIT's claims against every VQ row (stability only where the run has
    paired stability decisions)."""
    km, vqs = split_rows(rows)
    if km is None or not vqs:
        return []
    claims = {"generation", "reconstruction"} | ({"stability"} if stability_decided(rows, decisions) else set())
    return [
        _outcome(claim, measure, label, km_wins, km, vq, decisions or [])
        for claim, measure, label, km_wins in DECIDED
        if claim in claims
        for vq in vqs
    ]


def claim_state(outcomes: list[Outcome]) -> str:
    """ "holds" / "does not hold" / NOT_RESOLVED / "in part" / "not measured" from a claim's outcomes."""
    states = {o.state for o in outcomes} - {"not measured"}
    if not states:
        return "not measured"
    return next(iter(states)) if len(states) == 1 else "in part"


def _resolved_summary(claim: str, outcomes: list[Outcome]) -> str:
    """What a claim in part states: only its resolved outcomes, grouped by state."""
    bits = []
    for state in ("holds", "does not hold"):
        have = [f"{o.vq} by {o.label}" for o in outcomes if o.state == state]
        if have:
            bits.append(f"{state} against {', '.join(have)}")
    return f"{claim} " + ", ".join(bits)


def _stability_clause(rows: list[dict[str, Any]], decided: bool) -> str:
    """Decided: the raw measures a collapsed latent can fake, named beside the decision and deciding
    nothing. Not decided (an older run): every stability measure as a point estimate."""
    checks = [c for c in digit_checks(rows) if c.claim == "stability" and c.measured and not (decided and c.robust)]
    if not checks:
        return "" if decided else "Stability: not measured"
    nums = "; ".join(f"{c.measure} ({c.better} is more stable) {c.numbers()}" for c in checks)
    if decided:
        return f"Beside it, point estimates that a collapsed latent can fake and that decide nothing: {nums}"
    return (
        "Stability: not decided (no per-image stability values are kept, so there is no paired interval) "
        f"— point estimates only: {nums}"
    )


def digit_verdict(rows: list[dict[str, Any]], decisions: list[dict[str, Any]] | None = None) -> str:
    """Whether DiGIT's ordering holds on this run, claim by claim, decided by paired decisions
    (``tokkit.metrics.decisions.compare_decisions``): generation by gFID (paired over seeds),
    reconstruction by rFID (paired bootstrap over images) and PSNR (paired t over images). A claim
    holds or does not hold against a VQ row only where the decision is resolved (its 95% interval
    excludes 0); otherwise it is "not resolved at this budget", with the number of seeds or images
    that would resolve the observed difference. Stability is decided the same way by the centred cosine
    and the latent SNR (paired over images; the raw change rate and cosine are quoted beside them and
    decide nothing); a run without per-image stability values quotes its stability point estimates and
    decides nothing by them. Without ``decisions`` nothing is resolved.

    The wording (what holds, what does not, what is open) depends only on the decisions' verdicts,
    not on the point estimates, so runs whose numbers differ slightly but resolve alike say the same."""
    outcomes = digit_outcomes(rows, decisions)
    if not outcomes:
        return "DiGIT's ordering cannot be checked: this run needs a k-means tokenizer and at least one VQ tokenizer."
    km, vqs = split_rows(rows)
    snr = km.get("snr_quoted_db")
    decided = stability_decided(rows, decisions)
    parts, resolved, open_, unmeasured = [], [], [], []
    for claim in ("stability", "generation", "reconstruction") if decided else ("generation", "reconstruction"):
        os_ = [o for o in outcomes if o.claim == claim]
        state = claim_state(os_)
        if state in ("holds", "does not hold"):
            resolved.append(f"{claim} {state}")
        elif state == "in part":
            resolved.append(_resolved_summary(claim, os_))
            if any(o.state == NOT_RESOLVED for o in os_):
                open_.append(f"{claim} against the rest")
        elif state == NOT_RESOLVED:
            open_.append(claim)
        else:
            unmeasured.append(claim)
        shown = [o for o in os_ if o.state != "not measured"] or os_
        head = WORDING[claim][0].upper() + WORDING[claim][1:]
        parts.append(f"{head}: {state} — " + "; ".join(o.text() for o in shown))
    summary = "; ".join(resolved) if resolved else "nothing is resolved at this budget"
    if resolved and open_:
        summary += f"; {NOT_RESOLVED}: {', '.join(open_)}"
    if unmeasured:
        summary += f"; not measured: {', '.join(unmeasured)}"
    if not decided:
        summary += "; stability not decided (point estimates only)"
    vq_names = ", ".join(r["tokenizer"] for r in vqs)
    snr_text = f"; stability at {snr:g} dB" if snr is not None else ""
    tail = [c for c in [_stability_clause(rows, decided)] if c]
    return (
        f"DiGIT's ordering on this data (k-means vs {vq_names}, decided by paired 95% intervals{snr_text}): "
        f"{summary}. " + ". ".join([*parts, *tail]) + "."
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


def decisions_sentence(decisions: list[dict[str, Any]]) -> str:
    """How many of the paired decisions are resolved, and the largest number of seeds/images an open one needs."""
    if not decisions:
        return "No paired decisions on this run (every pair needs the same images or the same seeds on both sides)."
    resolved = [d for d in decisions if d["verdict"] != "inconclusive"]
    text = (
        f"{len(resolved)} of {len(decisions)} paired differences are resolved at this budget (95% interval "
        "excluding 0); the others are inconclusive, not ties"
    )
    if len(resolved) < len(decisions):
        text += " (each open row says about how many seeds or images would resolve it)"
    return text + "."


def _pc_measure(label: str, m: dict[str, Any]) -> str:
    rho = "n/a" if m.get("spearman") is None else f"{m['spearman']:.2g}"
    text = f"{label} resolves {m['resolved_pairs']} of {m['pairs']} pairs of levels in order (Spearman {rho})"
    if m["resolved_pairs"] < m["pairs"] and m.get("seeds_needed") is not None:
        text += f", about {m['seeds_needed']} seeds would resolve the rest"
    return text


def probe_check_sentence(pc: dict[str, Any]) -> str:
    """Whether this probe budget separates the probe-check ladder, by gFID and by the likelihood measures."""
    labels = {"gfid": "gFID", "bits_per_token": "bits per token", "diffusion_loss": "the diffusion loss"}
    ms = pc.get("measures") or {}
    if not ms:
        return "The probe-check ladder has no per-seed measure on this run: it cannot say whether the budget separates."
    full = [labels.get(k, k) for k, m in ms.items() if m["pairs"] and m["resolved_pairs"] == m["pairs"]]
    some = [labels.get(k, k) for k, m in ms.items() if m["resolved_pairs"]]
    g = ms.get("gfid")
    if g is not None and g["resolved_pairs"] == g["pairs"]:
        head = "This budget separates the ladder by gFID"
    elif full:
        head = f"This budget separates the ladder by {', '.join(full)} but not by gFID"
    elif some:
        head = "This budget separates the ladder only in part"
    else:
        head = "This budget does not separate the ladder: the probe cannot tell the tokenizer from its corrupted copies"
    seeds = len((pc.get("protocol") or {}).get("seeds") or []) or None
    levels = ", ".join(f"{x:g}" for x in pc["levels"])
    detail = "; ".join(_pc_measure(labels.get(k, k), m) for k, m in ms.items())
    return f"{head} (levels {levels} of {pc.get('tokenizer')}, {seeds} seeds: {detail})."

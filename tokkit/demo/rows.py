"""One comparison row per tokenizer, from its recon, stability and generation results.

Each figure comes with its uncertainty where the demo has one: PSNR and SSIM with the 95% interval
of the mean over the evaluation images, gFID with its spread over the probe seeds (and each seed's
value), the samples' KID with its standard error. Stability figures are point estimates here; their
per-image values (``stability_arrays``) give the paired stability decisions of the verdict.

Stability figures are quoted at the demo's middle noise level (15 dB) and computed on the
pre-quantization features where the tokenizer exposes them (the k-means tokenizer's encoder
features, the VQ encoders' z, the VAE's latent mean), else on the quantized vectors. Each comes
with its baseline: the change rate of random codes with the same usage, the cosine of random pairs
of positions.
"""

from __future__ import annotations

from typing import Any


def stability_vectors(stab: dict[str, Any]) -> str:
    """ "features" when the tokenizer exposes pre-quantization features, else "quantized"."""
    return "features" if any(v is not None for v in stab["cosine_features"]) else "quantized"


STABILITY_PREFIX = "stability_"  # NAME_arrays.npz keys of the per-image stability values


def stability_arrays(per_snr: dict[str, Any], stab: dict[str, Any], mid: float) -> dict[str, Any]:
    """The per-image stability values (``evaluate_stability(arrays_out=...)``) at the quoted noise level,
    for the vectors the row quotes (the pre-quantization features where there are some), under the
    decision measures' names prefixed ``stability_``: {"stability_change_rate": (N,), ...}."""
    values = per_snr.get(f"snr={mid:g}", {})
    prefix = "features_" if stability_vectors(stab) == "features" else ""
    out = {"change_rate": values.get("change_rate")}
    out.update({m: values.get(prefix + m) for m in ("cosine", "centred_cosine", "latent_snr_db")})
    return {STABILITY_PREFIX + k: v for k, v in out.items() if v is not None}


def stability_curves(stab: dict[str, Any]) -> dict[str, list[float | None]]:
    """The DiGIT Table 1 curves of one tokenizer: change rate, raw and centred cosine, latent SNR vs SNR."""
    key = stability_vectors(stab)
    snr = "feature_snr_db" if key == "features" else "latent_snr_db"
    return {
        "snr_db": list(stab["snr_db"]),
        "change": list(stab["token_change_rate"]),
        "cosine": list(stab[f"cosine_{key}"]),
        "cosine_centred": list(stab[f"cosine_{key}_centred"]),
        "latent_snr_db": list(stab[snr]),
    }


def make_row(
    name: str,
    checkpoint: str,
    rec: dict[str, Any],
    stab: dict[str, Any],
    gen: dict[str, Any],
    mid: float,
) -> dict[str, Any]:
    tok = rec["protocol"]["tokenizer"]
    usage = rec.get("usage") or {}
    curves = stability_curves(stab)
    i = curves["snr_db"].index(mid)
    base = stab["baselines"]
    key = stability_vectors(stab)
    discrete = tok["kind"] != "continuous"
    return {
        "tokenizer": name,
        "kind": tok["kind"],
        "architecture": tok["architecture"],
        "checkpoint": checkpoint,
        "codebook_size": tok["codebook_size"],
        "tokens_per_image": gen.get("tokens_per_image"),
        "psnr": rec["psnr"],
        "psnr_ci": rec.get("psnr_ci"),  # 95% t interval of the mean over the evaluation images
        "ssim": rec["ssim"],
        "ssim_ci": rec.get("ssim_ci"),
        "n_images": rec.get("n"),
        "rfid": gen.get("rfid") if gen.get("rfid") is not None else rec["rfid"],
        "gfid": gen.get("gfid"),  # the mean over the seeds
        "gfid_std": gen.get("gfid_std"),  # over the seeds (ddof 1; None for one seed)
        "gfid_seeds": gen.get("gfid_seeds"),
        "kid": gen.get("kid"),  # KID of the probe samples (all seeds pooled) vs the training split
        "kid_std": gen.get("kid_std"),
        "seeds": len(gen["seeds"]) if gen.get("seeds") else None,
        "gfid_floor": gen.get("gfid_floor"),
        "gfid_heldout": gen.get("gfid_heldout"),
        "gfid_reason": gen.get("reason"),
        "probe_order": gen.get("order"),
        "probe_head": gen.get("head"),
        "bits_per_token": gen.get("bits_per_token"),
        "diffusion_loss": gen.get("diffusion_loss"),
        "utilization": usage.get("utilization"),
        "perplexity": usage.get("perplexity"),
        "snr_quoted_db": mid,
        "change": curves["change"][i] if discrete else None,
        "change_random_codes": base["token_change_random_codes"],
        "latent_relative_change": None if discrete else curves["change"][i],
        "cosine": curves["cosine"][i],
        "cosine_centred": curves["cosine_centred"][i],
        "cosine_random_pairs": base["cosine_random_pairs"][key],
        "latent_snr_db": curves["latent_snr_db"][i],
        "stability_vectors": "pre-quantization features" if key == "features" else "quantized vectors",
    }

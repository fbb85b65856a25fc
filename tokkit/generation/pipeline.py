"""``evaluate_generation``: tokenize, split, train one probe, score the held-out split, sample, gFID.

Defaults per tokenizer kind: raster + categorical for discrete, next-scale + categorical for
multi-scale, random + diffusion for continuous. A diffusion head on a discrete tokenizer models its
pre-quantization features (MAR's "VQ latents as continuous tokens" control); samples are mapped back
to codes by the tokenizer's own nearest-code rule before decoding.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokkit.errors import DataError, UsageError
from tokkit.generation._base import GENERATORS, Generator, TokenSet
from tokkit.generation.config import ProbeConfig
from tokkit.threads import thread_settings
from tokkit.tokenizers._base import TokenBatch, Tokenizer

HEADS = ("categorical", "diffusion")
DEFAULTS = {"discrete": ("raster", "categorical"), "multiscale": ("next-scale", "categorical"),
            "continuous": ("random", "diffusion")}  # fmt: skip
GUIDANCE = "guided = uncond + w (cond - uncond) on logits (categorical) or eps (diffusion), constant w"


def flatten_tokens(tokens: TokenBatch) -> torch.Tensor:
    """(B, L) int64: raster order, scales coarse to fine."""
    return torch.cat([m.reshape(m.shape[0], -1) for m in tokens.index_maps()], 1).long()


def unflatten_tokens(seq: torch.Tensor, shapes: list[tuple[int, int]], kind: str) -> TokenBatch:
    maps, o = [], 0
    for h, w in shapes:
        maps.append(seq[:, o : o + h * w].reshape(-1, h, w))
        o += h * w
    return TokenBatch(kind, indices=maps if kind == "multiscale" else maps[0])  # type: ignore[arg-type]


def resolve_probe(tok: Tokenizer, order: str | None, head: str | None) -> tuple[str, str]:
    """The (order, head) to run, or one usage error saying why that pair does not fit the tokenizer."""
    d_order, d_head = DEFAULTS[tok.kind]
    if head is not None and head not in HEADS:
        raise UsageError(f"unknown head '{head}'", hint=f"choose one of {', '.join(HEADS)}")
    if order is None:  # a diffusion head on discrete codes models their features in raster order
        order = d_order if head in (None, d_head) else "raster"
    GENERATORS.resolve(order)  # unknown orders suggest the closest
    if head is None:
        head = "diffusion" if tok.kind == "continuous" else "categorical"
    arch = tok.architecture
    if order == "next-scale":
        if tok.kind != "multiscale":
            raise UsageError(f"--order next-scale needs a multi-scale tokenizer; '{arch}' is {tok.kind} (one scale)",
                             hint="use --order raster or random")  # fmt: skip
        if head != "categorical":
            raise UsageError("--order next-scale predicts codes: it takes --head categorical only")
        if not hasattr(tok, "next_scale_inputs"):
            raise UsageError(f"tokenizer '{arch}' does not expose next_scale_inputs (VAR's teacher-forced inputs)")
    if head == "categorical" and tok.kind == "continuous":
        raise UsageError(f"--head categorical needs discrete codes; '{arch}' is continuous",
                         hint="use --head diffusion")  # fmt: skip
    if head == "diffusion" and tok.kind == "discrete" and tok.codebook is None:
        raise UsageError(f"--head diffusion on '{arch}': no codebook to map sampled features back to codes")
    if head == "diffusion" and tok.kind == "multiscale" and type(tok).quantize is Tokenizer.quantize:
        raise UsageError(f"--head diffusion on '{arch}': no quantize() to map sampled features back to codes")
    return order, head


def _vectors(tok: Tokenizer, tokens: TokenBatch) -> torch.Tensor:
    """The continuous tokens (B, C, h, w): latents, else pre-quantization features."""
    v = tokens.latents if tokens.latents is not None else tokens.features
    if v is None:
        raise UsageError(
            f"--head diffusion needs continuous tokens: '{tok.architecture}' returns neither latents nor "
            "pre-quantization features",
            hint="use --head categorical",
        )
    return v.float()


def collect_tokens(tok: Tokenizer, source: Any, n: int, size: int, batch_size: int, dev: torch.device,
                   order: str, head: str, shard: Any = None) -> TokenSet:  # fmt: skip
    """Tokenize the first n images into what the probe models (unnormalised). Under torchrun (``shard``)
    each rank tokenizes its share and every rank gets all the sequences, in data order."""
    seqs, scale_inputs, shapes = _tokenize_rows(tok, source, size, batch_size, dev, order, head,
                                                (shard.start, shard.stop) if shard is not None else (0, n))  # fmt: skip
    if shard is not None and shard.world > 1:
        shares = shard.all_gather((seqs, scale_inputs, shapes))
        seqs = [t for s in shares for t in s[0]]
        scale_inputs = [t for s in shares for t in s[1]]
        shapes = next((s[2] for s in shares if s[2] is not None), None)
    data = TokenSet(torch.cat(seqs), [(int(h), int(w)) for h, w in shapes or []])
    if head == "categorical":
        vocab = int(tok.codebook_size or 0)
        if vocab < 2:
            raise DataError(f"tokenizer '{tok.architecture}' reports codebook size {vocab}: nothing to model")
        if int(data.tokens.min()) < 0 or int(data.tokens.max()) >= vocab:
            raise DataError(f"token ids outside [0, {vocab}) from '{tok.architecture}'")
        data.vocab = vocab
    if scale_inputs:
        data.scale_inputs = torch.cat(scale_inputs)
    return data


def _tokenize_rows(tok: Tokenizer, source: Any, size: int, batch_size: int, dev: torch.device, order: str,
                   head: str, rows: tuple[int, int]) -> tuple[list[Any], list[Any], Any]:  # fmt: skip
    """(sequences, next-scale inputs, grid shapes) of rows [start, stop), batch by batch."""
    from tokkit.data.dataset import iter_batches
    from tokkit.metrics import _common as C
    from tokkit.progress import task

    seqs, scale_inputs, shapes = [], [], None
    with task("Tokenizing", total=rows[1] - rows[0]) as t, torch.no_grad():
        for _, x, _ in iter_batches(source, size, batch_size, *rows):
            tokens = tok.encode(x.to(dev))
            C.check_batch_shapes(tok, x, tokens, None)
            if head == "diffusion":
                v = _vectors(tok, tokens)
                shapes = [tuple(v.shape[2:])]
                seqs.append(v.flatten(2).transpose(1, 2).cpu())  # (B, h*w, C) row-major
            else:
                shapes = [tuple(m.shape[1:]) for m in tokens.index_maps()]
                seqs.append(flatten_tokens(tokens).cpu())
                if order == "next-scale":
                    scale_inputs.append(tok.next_scale_inputs(tokens.index_maps()).float().cpu())  # type: ignore[attr-defined]
            t.advance(len(x))
    return seqs, scale_inputs, shapes


def attach_labels(data: TokenSet, source: Any, n: int) -> list[str]:
    """Class labels of the first n images (ImageFolder convention / store labels) -> class names."""
    got = source.labels() if hasattr(source, "labels") else None
    if got is None:
        raise UsageError(
            f"--classes needs class labels: '{getattr(source, 'spec', source)}' has none",
            hint="use a folder whose first-level subfolders are the classes, or a store with labels",
        )
    labels, classes = got
    data.labels = torch.as_tensor(np.asarray(labels[:n]), dtype=torch.long)
    data.num_classes = len(classes)
    return list(classes)


def split(n: int, every: int) -> np.ndarray:
    """Held-out mask: image i is held out when i % every == every - 1 (the last one if none is)."""
    held = np.arange(n) % every == every - 1
    if not held.any():
        held[-1] = True
    return held


def decoder_for(tok: Tokenizer, data: TokenSet, head: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Sampled tokens (B, L) or normalised vectors (B, L, C) -> images (B, 3, H, W)."""
    shapes, factor = data.shapes, data.extra.get("scale_factor", 1.0)

    def decode(samples: torch.Tensor) -> torch.Tensor:
        dev = next(iter(tok.parameters()), torch.empty(0)).device
        samples = samples.to(dev)
        if head == "categorical":
            return tok.decode(unflatten_tokens(samples, shapes, tok.kind))
        (h, w), b = shapes[0], len(samples)
        v = (samples / factor).view(b, h, w, -1).permute(0, 3, 1, 2).contiguous()  # (B, C, h, w)
        if tok.kind == "continuous":
            return tok.decode(TokenBatch("continuous", latents=v))
        if tok.kind == "multiscale":  # the tokenizer's own residual search
            return tok.decode(TokenBatch("multiscale", indices=tok.quantize(v).indices))
        from tokkit.layers.quantizer import match

        codes = tok.codebook.to(dev).float()  # type: ignore[union-attr]
        flat = v.permute(0, 2, 3, 1).reshape(-1, v.shape[1])
        if getattr(tok.config, "l2_norm", False):
            flat = torch.nn.functional.normalize(flat, dim=-1)
        idx = match(flat, codes, getattr(tok.config, "code_match", "l2"))  # IBQ: largest dot product
        return tok.decode(TokenBatch("discrete", indices=idx.view(b, h, w)))

    return decode


def budget(model: Generator, config: ProbeConfig, seq_len: int) -> dict[str, Any]:
    head = sum(p.numel() for p in model.head.parameters())
    total = sum(p.numel() for p in model.parameters())
    tokens = config.steps * config.batch_size * seq_len
    mul = config.diffusion_batch_mul if model.head_kind == "diffusion" else 1
    return {
        "parameters": total,
        "head_parameters": head,
        "steps": config.steps,
        "sequences_seen": config.steps * config.batch_size,
        "tokens_seen": tokens,
        "train_flops_approx": 6 * ((total - head) * tokens + head * tokens * mul),
    }


def _split_and_normalise(
    tokens: Any, n: int, config: ProbeConfig, tok: Tokenizer, warnings: list[str]
) -> tuple[Any, Any, Any, dict[str, Any] | None]:
    """The train / held-out split; continuous tokens scaled to unit std over the training split.

    Returns (held-out mask (N,) bool, train, val, normalisation info or None); ``tokens`` is scaled in place
    like the splits."""
    held = split(n, config.holdout_every)
    train, val = tokens.subset(torch.from_numpy(~held)), tokens.subset(torch.from_numpy(held))
    if len(train.tokens) < 32:
        warnings.append(f"only {len(train.tokens)} training sequences: the probe mostly measures memorisation")
    norm = None
    if tokens.continuous:
        std = float(train.tokens.double().std())
        if not math.isfinite(std) or std <= 0:
            raise DataError(f"the continuous tokens of '{tok.architecture}' have std {std}: nothing to model")
        for part in (tokens, train, val):
            part.tokens = part.tokens / std
            part.extra["scale_factor"] = 1 / std
        norm = {"scale_factor": 1 / std, "rule": "tokens * factor has unit std over the training split"}
    return held, train, val, norm


def _train_and_score(
    train: Any, val: Any, config: ProbeConfig, order: str, head: str, seed: int, dev: torch.device
) -> tuple[Any, list[float], dict[str, Any]]:
    """Train the probe on ``train`` and score the held-out split: (model, train losses, scores)."""
    torch.manual_seed(seed)
    model = GENERATORS.get(order)(train, config, head).to(dev)
    if head == "diffusion":  # sampling clips predicted x0 to the range of the training tokens
        model.head.clip = float(train.tokens.abs().max())
    losses = train_generator(model, train, config, seed, dev)
    scores = model.evaluate(val, config.eval_batch_size, seed, dev)
    return model, losses, scores


def _probe_info(
    model: Any, tok: Tokenizer, tokens: Any, train: Any, val: Any, config: ProbeConfig, order: str, head: str,
    norm: Any, class_names: list[str], classes: bool, losses: list[float], scores: dict[str, Any], fd_info: dict,
) -> dict[str, Any]:  # fmt: skip
    """The ``probe`` entry of the result; takes ``measure`` and ``bits_per_scale`` out of ``scores``."""
    info = {
        "defined": True,
        "config": dataclasses.asdict(config),
        "order": order,
        "order_description": model.description,
        "head": head,
        "head_description": model.head.describe(),
        "sequence_length": tokens.length,
        "scales": [f"{h}x{w}" for h, w in tokens.shapes],
        "vocab_size": tokens.vocab,
        "channels": tokens.channels,
        "tokens_from": (
            "codes" if head == "categorical" else "latents" if tok.kind == "continuous" else "pre-quantization features"
        ),  # fmt: skip
        **budget(model, config, tokens.length),
        "num_train": len(train.tokens),
        "num_val": len(val.tokens),
        "split": f"image i held out when i % {config.holdout_every} == {config.holdout_every - 1}",
        "normalisation": norm,
        "classes": class_names or None,
        "guidance": {"convention": GUIDANCE, "scale": config.cfg_scale, "label_dropout": config.label_dropout}
        if classes
        else None,  # fmt: skip
        "measure": scores.pop("measure"),
        "train_loss_first": losses[0],
        "train_loss_last": losses[-1],
        "uniform_nll": math.log(tokens.vocab) if tokens.vocab else None,
        **({"bits_per_scale": scores.pop("bits_per_scale")} if "bits_per_scale" in scores else {}),
        **({"sampling_iterations": model.num_iter} if order == "random" else {}),  # type: ignore[attr-defined]
        **fd_info,
    }
    info["budget"] = {k: info[k] for k in ("parameters", "head_parameters", "steps", "sequences_seen",
                                           "tokens_seen", "train_flops_approx")}  # fmt: skip
    return info


def evaluate_generation(
    tokenizer: str | Path | Tokenizer,
    data: Any,
    num_images: int | None = None,
    image_size: int | None = None,
    batch_size: int = 16,
    probe: ProbeConfig | None = None,
    samples: int = 0,
    fid_features: str | Any = "effnet-lite0",
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    use_cache: bool = True,
    seed: int = 0,
    order: str | None = None,
    head: str | None = None,
    classes: bool = False,
    seeds: int = 1,
    crop: str | None = None,
    ref_stats: Any = None,
) -> dict[str, Any]:
    """Run the generation probe ``seeds`` times (probe seeds ``seed .. seed+seeds-1``, each also its
    sampling seed) on the same tokens and the same real set. Returns {"order", "head", "gfid",
    "gfid_guided", "gfid_floor", "gfid_heldout", "rfid", "bits_per_token", "bits_per_image",
    "diffusion_loss", "val_nll", "top1_accuracy", "probe", "protocol"} plus the seed keys ("seeds",
    "gfid_seeds", "gfid_mean", "gfid_std", "kid", "kid_std", "kid_seeds", "n_real", "n_gen",
    "feature_dim", "per_seed"); null where not defined, the reason in ``probe["not_defined"]``.
    Per-seed scores are averaged over the seeds (``gfid`` == ``gfid_mean``); ``per_seed`` keeps each."""
    from tokkit.metrics import _common as C

    config = probe or ProbeConfig()
    if samples < 0 or samples == 1:
        raise UsageError(f"--samples must be 0 or at least 2 (a Frechet distance needs 2), got {samples}")
    if seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {seeds}")
    inputs = C.prepare(tokenizer, data, num_images, image_size, batch_size, device, crop)
    tok, source, n, size, dev, warnings = (
        inputs.tok, inputs.source, inputs.num_images, inputs.image_size, inputs.device, inputs.warnings
    )  # fmt: skip
    order, head = resolve_probe(tok, order, head)
    if n < 2:
        raise DataError(f"the generation probe needs at least 2 images (train + held-out); got {n}")
    protocol: dict[str, Any] = {"num_images": n, "image_size": size, "transform": C.transform_name(source),
                                **C.fingerprints(source, n, weights),
                                "data": getattr(source, "spec", str(data)), "tokenizer": C.tokenizer_info(tok),
                                "seed": seed, "seeds": list(range(seed, seed + seeds)), "device": str(dev),
                                "threads": thread_settings(),
                                "warnings": warnings}  # fmt: skip

    from tokkit.metrics.shards import eval_shard

    with eval_shard(dev, n, batch_size) as shard:  # under torchrun: the images and the seeds shared out
        # 1. tokens (+ labels), split, normalisation measured on the training split
        tokens = collect_tokens(tok, source, n, size, batch_size, dev, order, head, shard)
        class_names = attach_labels(tokens, source, n) if classes else []
        held, train, val, norm = _split_and_normalise(tokens, n, config, tok, warnings)
        # 2. the real references, once for every seed: training split, held-out split, reconstructions
        ref = None
        if samples > 0 and tok.can_decode:
            ref = _fd_reference(tok, source, n, size, batch_size, held, fid_features, weights, dev, use_cache, shard)
            _attach_ref_file(ref, ref_stats, protocol, batch_size, dev)

        # 3. per seed: train, score the held-out split, sample -> images -> gFID beside floor and rFID
        def run_one(s: int) -> dict[str, Any]:
            return _one_seed(s, tok, order, head, tokens, train, val, held, config, samples, ref, batch_size, dev,
                             warnings)  # fmt: skip

        runs = _run_seeds(shard, list(range(seed, seed + seeds)), warnings, run_one)
        result = None
        if shard.is_main:
            model, losses, fd_info = runs[0]["model"], runs[0]["losses"], runs[0]["fd_info"]
            scores, fd = _mean_over_seeds([r["scores"] for r in runs]), _mean_over_seeds([r["fd"] for r in runs])
            probe_info = _probe_info(model, tok, tokens, train, val, config, order, head, norm, class_names, classes,
                                     losses, scores, fd_info)  # fmt: skip
            result = {"order": order, "head": head, **fd, **scores, **_seed_summary(runs, ref, seed),
                      "probe": probe_info, "protocol": {**protocol, "processes": shard.world}}  # fmt: skip
            probe_info["not_defined"] = _reasons(result, samples, tok, head, order, classes)
        return shard.broadcast(result)


def _attach_ref_file(ref: dict[str, Any], ref_stats: Any, protocol: dict[str, Any], batch_size: int, dev: Any) -> None:
    """The feature-weight hash of the network actually loaded, and (``--ref-stats``) the reference file for gfid_ref."""
    from tokkit.metrics import _common as C

    protocol["feature_weights_sha256"] = C.weights_sha256(ref["feats"])
    if ref_stats is not None:  # gfid_ref: the samples against a reference file, beside gfid
        from tokkit.metrics.ref_stats import load_ref_stats

        ref["file"], kind = load_ref_stats(ref_stats, ref["feats"], batch_size, dev)
        protocol["gfid_ref"] = {"file": str(ref_stats), "kind": kind, "ref_n": ref["file"].n}


def _run_seeds(shard: Any, seeds: list[int], warnings: list[str],
               run_one: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    """Every seed's run, in seed order, on rank 0 (under torchrun rank r runs seeds r, r + world, ...;
    each run is the one a single process makes: a probe's numbers depend only on its seed). [] on other ranks."""
    mine = [run_one(s) for s in seeds[shard.rank :: shard.world]]
    if shard.world == 1:
        return mine
    for r in mine:
        r["model"] = r["model"].cpu() if r["seed"] == seeds[0] else None  # only seed 0's model is described
    shares = shard.gather((mine, list(warnings)))
    if not shard.is_main:
        return []
    for _, w in shares[1:]:
        warnings.extend(x for x in w if x not in warnings)
    return sorted((r for m, _ in shares for r in m), key=lambda r: r["seed"])


def _reasons(r: dict[str, Any], samples: int, tok: Tokenizer, head: str, order: str, classes: bool) -> dict[str, str]:
    why: dict[str, str] = {}
    for key in ("gfid", "gfid_heldout", "gfid_floor", "rfid", "gfid_guided"):
        if r[key] is None:
            why[key] = (
                "no samples requested (--samples 0)" if samples == 0
                else f"tokenizer '{tok.architecture}' has no pixel decoder" if not tok.can_decode
                else "no class conditioning (--classes)" if key == "gfid_guided" and not classes
                else "needs at least 2 held-out images" if key != "gfid_guided"
                else "not computed"
            )  # fmt: skip
    if head == "diffusion":
        why["bits_per_token"] = why["bits_per_image"] = "a diffusion head has no discrete likelihood"
    else:
        why["diffusion_loss"] = "categorical head: no diffusion loss"
        if order == "random":
            why["bits_per_image"] = "a masked model's cross-entropy is not an NLL: it does not sum to bits per image"
    return {k: v for k, v in why.items() if r.get(k) is None}


def _one_seed(seed: int, tok: Tokenizer, order: str, head: str, tokens: TokenSet, train: TokenSet, val: TokenSet,
              held: np.ndarray, config: ProbeConfig, samples: int, ref: dict[str, Any] | None, batch_size: int,
              dev: torch.device, warnings: list[str]) -> dict[str, Any]:  # fmt: skip
    """Train one probe with ``seed``, score the held-out split, and (with ``ref``) sample with the
    same seed and score the samples."""
    model, losses, scores = _train_and_score(train, val, config, order, head, seed, dev)
    fd: dict[str, Any] = {"gfid": None, "gfid_guided": None, "gfid_heldout": None, "gfid_floor": None, "rfid": None}
    fd_info: dict[str, Any] = {}
    fake = None
    if ref is not None:
        fd, fd_info, fake = _sample_scores(tok, model, tokens, train, held, samples, config, ref, batch_size,
                                           dev, seed, order, head, warnings)  # fmt: skip
    return {"seed": seed, "model": model, "losses": losses, "scores": scores, "fd": fd, "fd_info": fd_info,
            "fake": fake}  # fmt: skip


def _mean_over_seeds(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Each key's mean over the seeds where every seed has a number; otherwise the first seed's value."""
    out: dict[str, Any] = {}
    for key, first in parts[0].items():
        vals = [p.get(key) for p in parts]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
        out[key] = float(np.mean(vals)) if numeric and len(vals) > 1 else first
    return out


def _seed_summary(runs: list[dict[str, Any]], ref: dict[str, Any] | None, seed: int) -> dict[str, Any]:
    """The seed keys: per-seed gFIDs with their mean and std (ddof 1), KID of all seeds' samples pooled
    against the training split, and the sizes behind them."""
    from tokkit.metrics.kid import kid_result

    gfids = [r["fd"]["gfid"] for r in runs]
    have = all(g is not None for g in gfids)
    out: dict[str, Any] = {
        "seeds": [r["seed"] for r in runs],
        "gfid_seeds": gfids if have else None,
        "gfid_mean": float(np.mean(gfids)) if have else None,
        "gfid_std": float(np.std(gfids, ddof=1)) if have and len(gfids) > 1 else None,
        "kid": None, "kid_std": None, "kid_std_kind": None, "kid_seeds": None, "n_real": None, "n_gen": None,
        "feature_dim": None,
        "per_seed": [{"seed": r["seed"], **r["fd"], **r["scores"]} for r in runs],
    }  # fmt: skip
    if have and ref is not None and ref["train"].features is not None:
        from tokkit.metrics.decisions import per_seed_kid

        fakes = [r["fake"].features for r in runs]
        k = kid_result(ref["train"].features, np.concatenate(fakes), seed=seed)
        out.update(kid=k.mean, kid_std=k.std, kid_std_kind=k.std_kind, n_real=ref["train"].n,
                   kid_seeds=per_seed_kid(ref["train"].features, fakes, seed),
                   n_gen=runs[0]["fake"].n, feature_dim=ref["train"].dim)  # fmt: skip
    return out


def _fd_reference(tok: Tokenizer, source: Any, n: int, size: int, batch_size: int, held: np.ndarray,
                  fid_features: Any, weights: Any, dev: torch.device, use_cache: bool,
                  shard: Any = None) -> dict[str, Any]:  # fmt: skip
    """The feature network and the statistics (with features) of the training split, the held-out
    split and the held-out reconstructions."""
    from tokkit.metrics.fid import create_fid_features
    from tokkit.metrics.gfid import reference_stats

    feats = create_fid_features(fid_features, weights, dev) if isinstance(fid_features, str) else fid_features
    with torch.no_grad():
        ref = reference_stats(source, n, size, feats, held, batch_size, lambda x: tok.decode(tok.encode(x.to(dev))),
                              use_cache, shard)  # fmt: skip
    return {**ref, "feats": feats}


def _sample_scores(tok: Tokenizer, model: Generator, tokens: TokenSet, train: TokenSet, held: np.ndarray,
                   samples: int, config: ProbeConfig, ref: dict[str, Any], batch_size: int, dev: torch.device,
                   seed: int, order: str, head: str,
                   warnings: list[str]) -> tuple[dict[str, float | None], dict[str, Any], Any]:  # fmt: skip
    from tokkit.metrics.gfid import PROTOCOL, generation_scores, sample_stats
    from tokkit.progress import task

    feats = ref["feats"]
    decode = decoder_for(tok, tokens, head)
    labels = None
    if train.labels is not None:  # sample i gets the class of training image i (mod n): the training mix
        labels = train.labels[torch.arange(samples) % len(train.labels)]
    next_input = None
    if order == "next-scale":
        sizes = [h * w for h, w in tokens.shapes]

        def next_input(maps: list[torch.Tensor]) -> torch.Tensor:
            return tok.next_scale_inputs(maps)[:, -sizes[len(maps)] :]  # type: ignore[attr-defined]

    def images(cfg: float):
        seqs = model.sample(samples, seed, dev, config.eval_batch_size, labels=labels, cfg=cfg, next_input=next_input)
        with task("Decoding samples", total=samples) as t, torch.no_grad():
            for i in range(0, samples, batch_size):
                yield decode(seqs[i : i + batch_size])
                t.advance(min(batch_size, samples - i))

    fake = sample_stats(images(1.0), feats, keep_features=True)
    scores: dict[str, float | None] = {**generation_scores(ref, fake), "gfid_guided": None}
    if ref.get("file") is not None:
        from tokkit.metrics.fid import frechet_distance_stats

        scores["gfid_ref"] = frechet_distance_stats(fake, ref["file"])
    if labels is not None:
        guided = sample_stats(images(config.cfg_scale), feats)
        scores["gfid_guided"] = generation_scores(ref, guided)["gfid"]
    for what, st in (("gFID", fake), ("floor (held-out)", ref["heldout"])):
        w = st.rank_warning(what) if st is not None else None
        if w and w not in warnings:
            warnings.append(w)
    info = {
        "gfid_protocol": {
            **PROTOCOL,
            "features": feats.describe(),
            "num_samples": samples,
            "num_heldout": int(held.sum()),
            "num_train": int((~held).sum()),
            "sampling": "temperature 1, full softmax (categorical) / ancestral DDPM (diffusion), no top-k/top-p, "
            "per-sample seeded draws; probe seed s samples with seed s",
            "labels": "sample i takes the class of training image i mod n_train" if labels is not None else None,
            "kid": "KID of all seeds' samples pooled vs the training split (cubic kernel, subsets of <= 1000)",
        }
    }
    return scores, info, fake


from tokkit.generation.train import train_generator  # noqa: E402  (after the names train.py does not need)

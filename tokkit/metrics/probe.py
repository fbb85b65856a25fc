"""The downstream generation probe: how well can a small autoregressive model learn the tokens?

The tokens of a training split are modelled by one small causal transformer with a fixed,
recorded configuration and compute budget (``ProbeConfig``), so that tokenizers are compared at
equal effort. Sequences: raster order over the token map (row by row); multi-scale tokenizers
put their scales coarse to fine, each in raster order. A begin token (id K) starts every sequence.

Reported on the held-out split: NLL in nats per token (mean over every held-out token, the
first one included), bits per token (= NLL / ln 2) and top-1 next-token accuracy. With
``samples > 0`` the probe samples token maps (temperature 1, full softmax), the tokenizer
decodes them and a Frechet distance to the real images is computed in the recon feature space.

Continuous tokenizers have no token sequence: the probe is not defined for them and says so.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tokkit.errors import DataError, UsageError
from tokkit.tokenizers._base import TokenBatch, Tokenizer


@dataclass(frozen=True)
class ProbeConfig:
    """The probe and its budget. Defaults are the fixed protocol; changing any is recorded."""

    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    mlp_ratio: int = 4
    dropout: float = 0.0
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 20
    grad_clip: float = 1.0
    holdout_every: int = 5  # image i is held out when i % holdout_every == holdout_every - 1
    eval_batch_size: int = 64


class _Block(nn.Module):
    def __init__(self, c: ProbeConfig):
        super().__init__()
        self.n_head = c.n_head
        self.ln1 = nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.ln2 = nn.LayerNorm(c.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(c.d_model, c.mlp_ratio * c.d_model), nn.GELU(), nn.Linear(c.mlp_ratio * c.d_model, c.d_model)
        )
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, C/H)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, t, c)))
        return x + self.drop(self.mlp(self.ln2(x)))


class ProbeTransformer(nn.Module):
    """A GPT-style decoder over ``vocab`` codes + 1 begin token, learned absolute positions."""

    def __init__(self, vocab: int, seq_len: int, c: ProbeConfig):
        super().__init__()
        if c.d_model % c.n_head:
            raise UsageError(f"probe d_model {c.d_model} is not divisible by n_head {c.n_head}")
        self.vocab, self.seq_len = vocab, seq_len
        self.tok = nn.Embedding(vocab + 1, c.d_model)
        self.pos = nn.Parameter(torch.zeros(seq_len, c.d_model))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(_Block(c) for _ in range(c.n_layer))
        self.ln = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, vocab)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs (B, T) with T <= seq_len (begin token first) -> logits (B, T, vocab)."""
        x = self.tok(inputs) + self.pos[: inputs.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


def flatten_tokens(tokens: TokenBatch) -> torch.Tensor:
    """(B, L) int64: raster order, scales coarse to fine."""
    return torch.cat([m.reshape(m.shape[0], -1) for m in tokens.index_maps()], 1).long()


def unflatten_tokens(seq: torch.Tensor, shapes: list[tuple[int, int]], kind: str) -> TokenBatch:
    maps, o = [], 0
    for h, w in shapes:
        maps.append(seq[:, o : o + h * w].reshape(-1, h, w))
        o += h * w
    return TokenBatch(kind, indices=maps if kind == "multiscale" else maps[0])  # type: ignore[arg-type]


def _inputs(seq: torch.Tensor, bos: int) -> torch.Tensor:
    return torch.cat([torch.full((seq.shape[0], 1), bos, dtype=seq.dtype, device=seq.device), seq[:, :-1]], 1)


def train_probe(
    train: torch.Tensor, vocab: int, config: ProbeConfig, seed: int, device: torch.device
) -> tuple[ProbeTransformer, list[float]]:
    """Fit the probe on (N, L) sequences; returns the model and the loss every 10 steps."""
    from tokkit.progress import task

    torch.manual_seed(seed)
    model = ProbeTransformer(vocab, train.shape[1], config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(seed)

    def lr_at(step: int) -> float:  # linear warmup, cosine decay to 10%
        if step < config.warmup_steps:
            return config.lr * (step + 1) / config.warmup_steps
        t = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    losses: list[float] = []
    model.train()
    with task("Training the probe", total=config.steps) as t:
        for step in range(config.steps):
            batch = train[torch.randint(0, len(train), (config.batch_size,), generator=g)].to(device)
            logits = model(_inputs(batch, vocab))
            loss = F.cross_entropy(logits.reshape(-1, vocab), batch.reshape(-1))
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            if step % 10 == 0 or step == config.steps - 1:
                losses.append(float(loss.detach()))
            t.advance(1)
    return model.eval(), losses


@torch.no_grad()
def evaluate_probe(model: ProbeTransformer, seq: torch.Tensor, batch_size: int, device: torch.device) -> dict:
    """Mean NLL (nats/token) and top-1 accuracy over every token of (N, L) sequences."""
    nll, correct, n = 0.0, 0, 0
    for i in range(0, len(seq), batch_size):
        b = seq[i : i + batch_size].to(device)
        logits = model(_inputs(b, model.vocab)).double()
        nll += float(F.cross_entropy(logits.reshape(-1, model.vocab), b.reshape(-1), reduction="sum"))
        correct += int((logits.argmax(-1) == b).sum())
        n += b.numel()
    return {"val_nll": nll / n, "bits_per_token": nll / n / math.log(2), "top1_accuracy": correct / n}


@torch.no_grad()
def sample_probe(
    model: ProbeTransformer, n: int, seed: int, device: torch.device, batch_size: int = 64
) -> torch.Tensor:
    """(n, L) sequences, temperature 1, full softmax, seeded."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    for i in range(0, n, batch_size):
        b = min(batch_size, n - i)
        seq = torch.full((b, 1), model.vocab, dtype=torch.long, device=device)
        for _ in range(model.seq_len):
            probs = F.softmax(model(seq)[:, -1].double(), -1).cpu()
            nxt = torch.multinomial(probs, 1, generator=g).to(device)
            seq = torch.cat([seq, nxt], 1)
        out.append(seq[:, 1:].cpu())
    return torch.cat(out)


def _not_defined(reason: str, protocol: dict[str, Any], config: ProbeConfig) -> dict[str, Any]:
    return {
        "val_nll": None,
        "bits_per_token": None,
        "top1_accuracy": None,
        "gfid": None,
        "probe": {"defined": False, "reason": reason, "config": dataclasses.asdict(config)},
        "protocol": protocol,
    }


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
) -> dict[str, Any]:
    """Tokenize, train the probe on the training split, score the held-out split, optionally sample.

    Returns {"val_nll", "bits_per_token", "top1_accuracy", "gfid", "probe", "protocol"}.
    """
    from tokkit.data.dataset import iter_batches
    from tokkit.metrics import _common as C
    from tokkit.progress import task

    config = probe or ProbeConfig()
    if samples < 0 or samples == 1:
        raise UsageError(f"--samples must be 0 or at least 2 (a Frechet distance needs 2), got {samples}")
    inputs = C.prepare(tokenizer, data, num_images, image_size, batch_size, device)
    tok, source, n, size, dev, warnings = (
        inputs.tok, inputs.source, inputs.num_images, inputs.image_size, inputs.device, inputs.warnings
    )  # fmt: skip
    protocol: dict[str, Any] = {
        "num_images": n,
        "image_size": size,
        "transform": C.TRANSFORM,
        "data": getattr(source, "spec", str(data)),
        "tokenizer": C.tokenizer_info(tok),
        "seed": seed,
        "device": str(dev),
        "warnings": warnings,
    }
    if tok.kind == "continuous":
        return _not_defined(
            "continuous tokenizer: its latents are not a sequence of discrete tokens, so a next-token NLL "
            "is not defined (a continuous generator would need a different probe)",
            protocol,
            config,
        )
    if n < 2:
        raise DataError(f"the generation probe needs at least 2 images (train + held-out); got {n}")
    vocab = int(tok.codebook_size or 0)
    if vocab < 2:
        raise DataError(f"tokenizer '{tok.architecture}' reports codebook size {vocab}: nothing to model")

    seqs, shapes = [], None
    with task("Tokenizing", total=n) as t, torch.no_grad():
        for _, x, _ in iter_batches(source, size, batch_size, 0, n):
            tokens = tok.encode(x.to(dev))
            C.check_batch_shapes(tok, x, tokens, None)
            shapes = [tuple(m.shape[1:]) for m in tokens.index_maps()]
            seqs.append(flatten_tokens(tokens).cpu())
            t.advance(len(x))
    seq = torch.cat(seqs)
    if int(seq.min()) < 0 or int(seq.max()) >= vocab:
        raise DataError(f"token ids outside [0, {vocab}) from '{tok.architecture}'")
    every = config.holdout_every
    held = np.arange(n) % every == every - 1
    if not held.any():  # fewer images than one hold-out period: hold out the last one
        held[-1] = True
    train, val = seq[torch.from_numpy(~held)], seq[torch.from_numpy(held)]
    if len(train) < 1:
        raise DataError(f"no training images left after holding out {int(held.sum())} of {n}")
    if len(train) < 32:
        warnings.append(f"only {len(train)} training sequences: the probe mostly measures memorisation")

    model, losses = train_probe(train, vocab, config, seed, dev)
    scores = evaluate_probe(model, val, config.eval_batch_size, dev)
    seq_len = seq.shape[1]
    n_params = sum(p.numel() for p in model.parameters())
    probe_info = {
        "defined": True,
        "config": dataclasses.asdict(config),
        "order": "raster (row-major)" + (", scales coarse to fine" if tok.kind == "multiscale" else ""),
        "sequence_length": seq_len,
        "scales": [f"{h}x{w}" for h, w in shapes or []],
        "vocab_size": vocab,
        "parameters": n_params,
        "budget": {
            "steps": config.steps,
            "sequences_seen": config.steps * config.batch_size,
            "tokens_seen": config.steps * config.batch_size * seq_len,
            "train_flops_approx": 6 * n_params * config.steps * config.batch_size * seq_len,
        },
        "num_train": len(train),
        "num_val": len(val),
        "split": f"image i held out when i % {every} == {every - 1}",
        "bits_per_image": scores["bits_per_token"] * seq_len,
        "train_loss_first": losses[0],
        "train_loss_last": losses[-1],
        "uniform_nll": math.log(vocab),
    }
    gfid = None
    if samples > 0:
        gfid = _gfid(tok, model, samples, shapes or [], source, n, size, batch_size, fid_features, weights, dev,
                     use_cache, seed, protocol, warnings)  # fmt: skip
    return {**scores, "gfid": gfid, "probe": probe_info, "protocol": protocol}


def _gfid(
    tok: Tokenizer,
    model: ProbeTransformer,
    samples: int,
    shapes: list[tuple[int, int]],
    source: Any,
    n: int,
    size: int,
    batch_size: int,
    fid_features: str | Any,
    weights: str | Path | None,
    dev: torch.device,
    use_cache: bool,
    seed: int,
    protocol: dict[str, Any],
    warnings: list[str],
) -> float | None:
    from tokkit.metrics.fid import StatsAccumulator, create_fid_features, frechet_distance_stats, real_image_stats

    if not tok.can_decode:
        protocol["gfid"] = {"reason": f"tokenizer '{tok.architecture}' has no pixel decoder"}
        return None
    feats = create_fid_features(fid_features, weights, dev) if isinstance(fid_features, str) else fid_features
    real, cached = real_image_stats(source, n, size, feats, batch_size, use_cache)
    seqs = sample_probe(model, samples, seed, dev)
    acc = StatsAccumulator()
    with torch.no_grad():
        for i in range(0, samples, batch_size):
            tokens = unflatten_tokens(seqs[i : i + batch_size].to(dev), shapes, tok.kind)
            images = tok.decode(tokens).float().clamp(-1, 1)
            acc.add(feats(images))
    fake = acc.stats()
    w = fake.rank_warning("gFID")
    if w:
        warnings.append(w)
    protocol["gfid"] = {
        "features": feats.describe(),
        "num_samples": samples,
        "sampling": "temperature 1, full softmax, seeded",
        "reference": f"the first {n} real images (all, train and held-out)",
        "real_stats": "cache" if cached else "computed",
    }
    return frechet_distance_stats(real, fake)

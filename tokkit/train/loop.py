"""The training loop behind ``tokkit train``.

One function, ``train(config, out)``: builds the tokenizer (or, for ``kmeans-decoder``, a pixel
decoder over a frozen k-means tokenizer), trains it with AdamW + warmup/cosine, grad clipping,
AMP (bf16 on GPU only), optional EMA, L1/L2 + LPIPS + PatchGAN hinge (+ the tokenizer's own
quantizer/KL terms), and writes the run directory:

    RUN/config.json            resolved config, argv, git commit, time (one entry per (re)start)
    RUN/metrics.jsonl          one JSON line per logged step (+ eval lines with PSNR)
    RUN/samples/step_NNNNNN.png   originals (top) and reconstructions (bottom)
    RUN/checkpoints/last/      tokkit checkpoint + train_state.pt (resume), replaced atomically
    RUN/checkpoints/final/     tokkit checkpoint at the end

Determinism: the batch of step t is a pure function of (seed, t): epoch = t // batches_per_epoch
picks a seeded permutation, each rank takes its shard, and augmentations are seeded per
(seed, epoch, image). Together with the saved optimizer/EMA/RNG/buffer state this makes
``--resume`` continue bit-exactly on CPU. Under torchrun each rank reads its own shard and rank 0
alone writes files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tokkit.errors import DataError, TokkitError, UsageError
from tokkit.io.checkpoint import replace_dir_atomic, save_checkpoint, write_json_atomic
from tokkit.io.provenance import provenance
from tokkit.losses.adversarial import adaptive_weight
from tokkit.progress import task
from tokkit.tokenizers._base import Tokenizer, TrainOutput
from tokkit.train import distributed as tdist
from tokkit.train.config import RESUMABLE_CHANGES, TrainConfig
from tokkit.train.schedule import EMA, lr_at

log = logging.getLogger("tokkit.train")

STATE_NAME = "train_state.pt"


@dataclass
class TrainResult:
    run_dir: str
    architecture: str
    steps: int
    resumed_from: int | None
    final_checkpoint: str | None
    psnr_start: float | None
    psnr_end: float | None
    usage_end: float | None
    seconds: float
    last_metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --- model construction --------------------------------------------------------------------------


class _KMeansDecoderModel(nn.Module):
    """Frozen k-means tokenizer -> token maps -> trainable TokenDecoder -> pixels."""

    def __init__(self, tokenizer: Tokenizer):
        super().__init__()
        self.tokenizer = tokenizer
        for n, p in tokenizer.named_parameters():
            p.requires_grad_(n.startswith("decoder."))

    @property
    def last_layer(self) -> torch.Tensor:
        return self.tokenizer.decoder.last_layer

    def train(self, mode: bool = True) -> _KMeansDecoderModel:
        super().train(mode)
        for n, m in self.tokenizer.named_children():
            if n != "decoder":
                m.eval()  # the frozen encoder stays in eval mode
        return self

    def forward(self, images: torch.Tensor) -> TrainOutput:
        with torch.no_grad():
            tokens = self.tokenizer.encode(images)
        recon = self.tokenizer.decoder(tokens.indices)
        if recon.shape[-2:] != images.shape[-2:]:
            raise UsageError(f"decoder output {tuple(recon.shape[-2:])} != image size {tuple(images.shape[-2:])}")
        return TrainOutput(recon, {}, {}, tokens)


def build_model(cfg: TrainConfig) -> tuple[nn.Module, Tokenizer]:
    """(module trained, tokenizer saved). For ordinary architectures they are the same object."""
    import tokkit.tokenizers  # noqa: F401
    from tokkit.tokenizers._registry import create_tokenizer

    if cfg.architecture == "kmeans-decoder":
        from tokkit.train.kmeans_decoder import attach_decoder

        tok = attach_decoder(cfg)
        return _KMeansDecoderModel(tok), tok
    try:
        tok = create_tokenizer(cfg.architecture, **cfg.model)
    except TypeError as e:  # an unknown model.FIELD
        raise UsageError(f"bad model setting for '{cfg.architecture}': {e}") from e
    except ValueError as e:
        raise UsageError(f"bad model setting for '{cfg.architecture}': {e}") from e
    if type(tok).forward is Tokenizer.forward:
        hint = "build k-means tokenizers with tokkit fit-kmeans; train their pixel decoder with kmeans-decoder"
        raise UsageError(f"'{cfg.architecture}' is not trainable by tokkit train", hint=hint)
    return tok, tok


# --- data ----------------------------------------------------------------------------------------


class StepBatches:
    """Batch of step t = a pure function of (seed, t, rank, world)."""

    def __init__(self, dataset: Any, batch_size: int, seed: int, rank: int, world: int):
        self.ds = dataset
        self.bs = batch_size
        self.seed = seed
        self.rank, self.world = rank, world
        n = len(dataset)
        self.per_epoch = (n // world) // batch_size
        if self.per_epoch < 1:
            raise DataError(
                f"{n} training images are fewer than one batch ({batch_size} x {world} processes)",
                hint="lower --batch-size or give more images",
            )
        self._perm_epoch = -1
        self._perm: np.ndarray | None = None

    def indices(self, step: int) -> tuple[int, list[int]]:
        epoch, b = divmod(step, self.per_epoch)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed % 2**32, epoch, 17]).permutation(len(self.ds))
            self._perm_epoch = epoch
        shard = self._perm[self.rank :: self.world]
        return epoch, [int(i) for i in shard[b * self.bs : (b + 1) * self.bs]]

    def get(self, step: int) -> torch.Tensor:
        epoch, idx = self.indices(step)
        return torch.stack([_EpochItems(self.ds)[(epoch, i)] for i in idx])

    def loader(self, start: int, end: int, num_workers: int = 0) -> Any:
        """Batches for steps [start, end) through a DataLoader (``num_workers`` processes); the same
        images whatever the worker count, since each item's augmentation is seeded by (seed, epoch, i)."""
        from torch.utils.data import DataLoader

        # its own generator: creating the iterator must not draw from the global RNG (resume exactness)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + start)
        return DataLoader(
            _EpochItems(self.ds),
            batch_sampler=_StepSampler(self, start, end),
            num_workers=num_workers,
            persistent_workers=False,
            generator=g,
        )


class _EpochItems:
    """Dataset view whose keys are (epoch, index): workers need no set_epoch broadcast."""

    def __init__(self, ds: Any):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        epoch, i = key
        self.ds.set_epoch(epoch)
        return self.ds[i][0]


class _StepSampler:
    def __init__(self, batches: StepBatches, start: int, end: int):
        self.batches, self.start, self.end = batches, start, end

    def __len__(self) -> int:
        return max(0, self.end - self.start)

    def __iter__(self):
        for step in range(self.start, self.end):
            epoch, idx = self.batches.indices(step)
            yield [(epoch, i) for i in idx]


# --- metrics helpers -----------------------------------------------------------------------------


def psnr(recon: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-image PSNR (dB) on [0, 1] RGB, data range 1."""
    a = (recon.detach().float().clamp(-1, 1) + 1) / 2
    b = (target.detach().float().clamp(-1, 1) + 1) / 2
    mse = (a - b).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1.0 / mse)).mean())


def save_samples(path: Path, images: torch.Tensor, recon: torch.Tensor) -> None:
    """Originals on the top row, reconstructions below; PNG (never JPEG)."""
    from PIL import Image

    from tokkit.data.transforms import to_uint8

    top = np.concatenate(list(to_uint8(images)), axis=1)
    bottom = np.concatenate(list(to_uint8(recon)), axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray(np.concatenate([top, bottom], axis=0)).save(tmp, format="PNG")
    tmp.replace(path)


def _scalar(v: Any) -> float:
    return float(v.detach()) if isinstance(v, torch.Tensor) else float(v)


# --- run directory ---------------------------------------------------------------------------------


def _find_last(run: Path) -> Path | None:
    last = run / "checkpoints" / "last"
    if (last / STATE_NAME).is_file():
        return last
    # a kill between the two renames of replace_dir_atomic leaves the previous copy aside
    olds = sorted((run / "checkpoints").glob(".last.old-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for p in olds:
        if (p / STATE_NAME).is_file():
            return p
    return None


def _check_resume_config(run: Path, cfg: TrainConfig) -> dict[str, Any]:
    stored = json.loads((run / "config.json").read_text())
    old = stored.get("config", {})
    new = cfg.to_dict()
    diffs = [k for k in sorted(set(old) | set(new)) if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k)]
    if diffs:
        shown = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diffs[:4])
        raise UsageError(
            f"run '{run}' was started with another config ({shown})",
            hint="resume with the same settings, or train into a new --out",
        )
    return stored


def _write_run_config(run: Path, cfg: TrainConfig, stored: dict[str, Any] | None, resumed_from: int | None) -> None:
    from tokkit.threads import thread_settings

    entry = provenance(resumed_from=resumed_from, threads=thread_settings())  # each (re)start's CPU threads
    record = stored or {"architecture": cfg.architecture, "config": cfg.to_dict(), "starts": []}
    record["config"] = cfg.to_dict()
    record["starts"] = list(record.get("starts", [])) + [entry]
    record["argv"] = entry["argv"]
    record["git_commit"] = entry.get("git_commit")
    write_json_atomic(run / "config.json", record)


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop lines logged after the checkpoint (they will be logged again)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(k + "\n" for k in keep))
    tmp.replace(path)


# --- the loop --------------------------------------------------------------------------------------


class Trainer:
    def __init__(self, cfg: TrainConfig, out: Path, device: torch.device, info: tdist.DistInfo):
        self.cfg, self.out, self.device, self.info = cfg, out, device, info
        torch.manual_seed(cfg.seed)
        self.model, self.tokenizer = build_model(cfg)
        self.tokenizer.token_shape(cfg.image_size)  # image size vs downsample factor: a clear error
        self.model.to(device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.lpips = None
        if cfg.perceptual_weight > 0:
            from tokkit.losses.perceptual import load_lpips

            self.lpips = load_lpips(cfg.perceptual_weights).to(device)
        self.disc = None
        if cfg.disc_weight > 0:
            from tokkit.losses.adversarial import PatchDiscriminator

            self.disc = PatchDiscriminator(3, cfg.disc_channels, cfg.disc_layers).to(device)
            self.disc_opt = torch.optim.AdamW(
                self.disc.parameters(), lr=cfg.disc_lr or cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
            )
        self.logvar = nn.Parameter(torch.zeros((), device=device)) if cfg.learn_logvar else None
        if self.logvar is not None:
            self.opt.add_param_group({"params": [self.logvar], "weight_decay": 0.0})
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        if device.type == "cuda":
            self.amp_dtype = None if cfg.amp == "fp32" else torch.bfloat16
        else:
            if cfg.amp == "bf16":
                raise UsageError("bf16 AMP is for GPUs; on CPU tokkit trains in fp32", hint="drop --set amp=bf16")
            self.amp_dtype = None
        self.ddp_model: nn.Module = self.model
        self.ddp_disc = self.disc
        if info.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            self.ddp_model = DDP(self.model, device_ids=ids, broadcast_buffers=False)
            if self.disc is not None:
                self.ddp_disc = DDP(self.disc, device_ids=ids)

    # state for resume -------------------------------------------------------------------------------
    def state(self, step: int) -> dict[str, Any]:
        s: dict[str, Any] = {
            "step": step,
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "buffers": {k: v.detach().cpu().clone() for k, v in self.model.named_buffers()},
            "opt": self.opt.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "config": json.dumps(self.cfg.to_dict(), sort_keys=True),
        }
        if self.device.type == "cuda":
            s["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        if self.disc is not None:
            s["disc"] = self.disc.state_dict()
            s["disc_opt"] = self.disc_opt.state_dict()
        if self.logvar is not None:
            s["logvar"] = self.logvar.detach().cpu().clone()
        if self.ema is not None:
            s["ema"] = self.ema.state_dict()
        return s

    def load_state(self, s: dict[str, Any]) -> int:
        self.model.load_state_dict(s["model"])
        named = dict(self.model.named_buffers())
        with torch.no_grad():
            for k, v in s["buffers"].items():
                if k in named:
                    named[k].copy_(v)
        self.opt.load_state_dict(s["opt"])
        torch.set_rng_state(s["rng_cpu"])
        if "rng_cuda" in s and self.device.type == "cuda":
            torch.cuda.set_rng_state(s["rng_cuda"], self.device)
        if self.disc is not None:
            self.disc.load_state_dict(s["disc"])
            self.disc_opt.load_state_dict(s["disc_opt"])
        if self.logvar is not None:
            with torch.no_grad():
                self.logvar.copy_(s["logvar"])
        if self.ema is not None:
            self.ema.load_state_dict(s["ema"])
        return int(s["step"])

    def save(self, name: str, step: int, with_state: bool) -> Path:
        """Write checkpoints/<name> atomically (rank 0 only): tokkit checkpoint (+ train_state.pt)."""
        ckpt_dir = self.out / "checkpoints"
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        tmp_root = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=ckpt_dir))
        try:
            state = self.state(step) if with_state else None
            tmp = tmp_root / name
            if self.ema is not None:
                self.ema.swap(self.model)
            try:
                prov = provenance(
                    data=self.cfg.data,
                    image_size=self.cfg.image_size,
                    step=step,
                    run=str(self.out),
                    ema=self.ema is not None,
                )
                save_checkpoint(self.tokenizer, tmp, provenance=prov)
            finally:
                if self.ema is not None:
                    self.ema.swap(self.model)
            if state is not None:
                with open(tmp / STATE_NAME, "wb") as f:
                    torch.save(state, f)
                    f.flush()
            replace_dir_atomic(tmp, ckpt_dir / name)
        finally:
            shutil.rmtree(tmp_root, ignore_errors=True)
        return ckpt_dir / name

    @torch.no_grad()
    def evaluate(self, images: torch.Tensor) -> tuple[float, torch.Tensor, float | None]:
        """PSNR of reconstructions of the fixed eval images (EMA weights when on), and usage."""
        from tokkit.metrics.usage import codebook_usage

        if self.ema is not None:
            self.ema.swap(self.model)
        was = self.model.training
        self.model.eval()
        try:
            recons, maps = [], []
            for i in range(0, len(images), 16):
                x = images[i : i + 16].to(self.device)
                with self._autocast():
                    tokens = self.tokenizer.encode(x)
                    recons.append(self.tokenizer.decode(tokens).float().cpu())
                maps.extend(m.cpu() for m in tokens.index_maps())
            recon = torch.cat(recons)
        finally:
            self.model.train(was)
            if self.ema is not None:
                self.ema.swap(self.model)
        usage = codebook_usage(maps, self.tokenizer.codebook_size)["utilization"] if maps else None
        return psnr(recon, images), recon, usage

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def step(self, x: torch.Tensor, step: int) -> dict[str, float]:
        cfg = self.cfg
        lr = lr_at(step, cfg.lr, cfg.steps, cfg.warmup_steps, cfg.min_lr_ratio)
        for g in self.opt.param_groups:
            g["lr"] = lr
        gan_on = self.disc is not None and step >= cfg.disc_start
        with self._autocast():
            out: TrainOutput = self.ddp_model(x)
        recon = out.recon.float()
        from tokkit.losses.recon import reconstruction_loss

        rec_map = reconstruction_loss(recon, x, cfg.recon_loss)
        metrics: dict[str, float] = {"lr": lr, "rec": _scalar(rec_map.mean())}
        if self.logvar is not None:
            nll = (rec_map / self.logvar.exp() + self.logvar).mean()
            metrics["logvar"] = _scalar(self.logvar)
        else:
            nll = rec_map.mean()
        nll = cfg.recon_weight * nll
        if self.lpips is not None:
            with self._autocast():
                p = self.lpips(recon, x).mean()
            nll = nll + cfg.perceptual_weight * p.float()
            metrics["lpips"] = _scalar(p)
        total = nll
        for k, v in out.losses.items():
            total = total + v.float()
            metrics[k] = _scalar(v)
        if gan_on:
            with self._autocast():
                g_adv = -self.ddp_disc(recon).float().mean()
            w = torch.tensor(cfg.disc_weight, device=x.device)
            if cfg.disc_adaptive:
                w = cfg.disc_weight * adaptive_weight(nll, g_adv, self.model.last_layer)
            total = total + w * g_adv
            metrics["g_adv"] = _scalar(g_adv)
            metrics["disc_w"] = _scalar(w)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        if cfg.grad_clip > 0:
            gn = torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
            metrics["grad_norm"] = _scalar(gn)
        self.opt.step()
        if gan_on:
            from tokkit.losses.adversarial import hinge_d_loss

            for g in self.disc_opt.param_groups:
                g["lr"] = lr_at(step, cfg.disc_lr or cfg.lr, cfg.steps, cfg.warmup_steps, cfg.min_lr_ratio)
            with self._autocast():
                d_loss = hinge_d_loss(self.ddp_disc(x).float(), self.ddp_disc(recon.detach()).float())
            self.disc_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            self.disc_opt.step()
            metrics["d_loss"] = _scalar(d_loss)
        if self.ema is not None:
            self.ema.update(self.model)
        metrics["loss"] = _scalar(total)
        metrics.update({k: float(v) for k, v in out.stats.items()})
        if not math.isfinite(metrics["loss"]):
            raise TokkitError(f"training diverged at step {step}: loss is {metrics['loss']}", hint="lower --lr")
        return metrics


def _eval_images(cfg: TrainConfig, source: Any) -> torch.Tensor:
    from tokkit.data.dataset import ImageDataset

    ds = ImageDataset(source, cfg.image_size, train=False)
    n = min(len(ds), max(cfg.eval_images, cfg.num_samples))
    return torch.stack([ds[i][0] for i in range(n)])


@dataclass
class _Run:
    """What the steps of one ``train`` call share."""

    cfg: TrainConfig
    out: Path
    info: tdist.DistInfo
    trainer: Trainer
    eval_x: torch.Tensor

    @property
    def metrics_path(self) -> Path:
        return self.out / "metrics.jsonl"

    def evaluate_and_log(self, step: int) -> tuple[float, float | None]:
        """PSNR and usage on the eval images; writes samples/step_NNNNNN.png and an eval line (rank 0)."""
        p, recon, usage = self.trainer.evaluate(self.eval_x)
        n = self.cfg.num_samples
        save_samples(self.out / "samples" / f"step_{step:06d}.png", self.eval_x[:n], recon[:n])
        _append(self.metrics_path, {"step": step, "eval_psnr": p, "eval_usage": usage})
        return p, usage


def _check_run_dir(out: Path, cfg: TrainConfig, resume: bool) -> dict[str, Any] | None:
    """The stored run record when resuming (same config), None for a new run (into an empty ``out``)."""
    has_run = (out / "config.json").is_file()
    if resume:
        if not has_run:
            raise UsageError(f"nothing to resume: '{out}' holds no training run", hint="drop --resume")
        return _check_resume_config(out, cfg)
    if has_run or (out / "checkpoints").exists():
        raise UsageError(
            f"'{out}' already holds a training run", hint="pass --resume to continue it or choose a new --out"
        )
    return None


def _load_last(trainer: Trainer, out: Path) -> int:
    """Restore ``checkpoints/last`` into ``trainer``; the step it was saved at."""
    last = _find_last(out)
    if last is None:
        raise DataError(f"'{out}' has no checkpoints/last/{STATE_NAME} to resume from")
    state = torch.load(str(last / STATE_NAME), map_location="cpu", weights_only=True)
    return trainer.load_state(state)


def _record_start(run: _Run, stored: dict[str, Any] | None, resumed_from: int | None, start: int) -> None:
    """Rank 0: the run directory, this (re)start in config.json, metrics.jsonl new or cut back to ``start``."""
    run.out.mkdir(parents=True, exist_ok=True)
    _write_run_config(run.out, run.cfg, stored, resumed_from)
    if resumed_from is not None:
        _truncate_metrics(run.metrics_path, start)
    else:
        run.metrics_path.write_text("")


def _psnr_start(run: _Run, start: int) -> float | None:
    """Rank 0: the step-0 eval PSNR, measured now on a fresh run, read back from metrics.jsonl on resume."""
    if start == 0:
        return run.evaluate_and_log(0)[0]
    psnr_start = None
    if run.metrics_path.is_file():
        for line in run.metrics_path.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("step") == 0 and "eval_psnr" in rec:
                psnr_start = rec["eval_psnr"]
    return psnr_start


def _train_steps(run: _Run, batches: StepBatches, start: int, end: int) -> dict[str, Any]:
    """Steps [start, end): log, sample and checkpoint on the configured cadence; the last logged metrics."""
    cfg, info, trainer = run.cfg, run.info, run.trainer
    trainer.model.train()
    last_metrics: dict[str, Any] = {}
    tick = time.time()
    bar_ctx = task(f"Training {cfg.architecture}", total=end - start) if info.is_main else _no_bar()
    with bar_ctx as bar:
        loader = batches.loader(start, end, cfg.num_workers)
        for step, x in zip(range(start, end), loader, strict=True):
            x = x.to(trainer.device, non_blocking=True)
            m = trainer.step(x, step)
            done = step + 1
            bar.advance(1)
            if info.is_main and (done % cfg.log_every == 0 or done == end):
                now = time.time()
                m["images_per_s"] = cfg.batch_size * info.world * cfg.log_every / max(now - tick, 1e-9)
                tick = now
                last_metrics = {"step": done, **m}
                _append(run.metrics_path, last_metrics)
            if info.is_main and done % cfg.sample_every == 0 and done < cfg.steps:
                run.evaluate_and_log(done)
            if (done % cfg.ckpt_every == 0 or done == end) and done < cfg.steps:
                if info.is_main:
                    trainer.save("last", done, with_state=True)
                tdist.barrier(info)
    return last_metrics


def _finish(run: _Run, end: int) -> tuple[str | None, float | None, float | None]:
    """When all steps ran: final eval, ``checkpoints/last`` and ``checkpoints/final``; (final path, PSNR, usage)."""
    final = None
    psnr_end = usage_end = None
    if end == run.cfg.steps:
        if run.info.is_main:
            psnr_end, usage_end = run.evaluate_and_log(end)
            run.trainer.save("last", end, with_state=True)
            final = str(run.trainer.save("final", end, with_state=False))
        tdist.barrier(run.info)
    return final, psnr_end, usage_end


def train(
    cfg: TrainConfig,
    out: str | Path,
    resume: bool = False,
    device: str = "auto",
    stop_after: int | None = None,
) -> TrainResult:
    """Train ``cfg.architecture`` into the run directory ``out``; see the module doc.

    ``stop_after``: stop (saving ``checkpoints/last``) once this step count is reached, as a kill would.
    """
    from tokkit.data.dataset import ImageDataset
    from tokkit.data.sources import open_source
    from tokkit.device import resolve_device

    t0 = time.time()
    out = Path(out)
    dev = resolve_device(device)
    info = tdist.setup(dev.type)
    if info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
    try:
        stored = _check_run_dir(out, cfg, resume)
        source = open_source(cfg.data)
        trainer = Trainer(cfg, out, dev, info)
        ds = ImageDataset(source, cfg.image_size, train=True, seed=cfg.seed)
        batches = StepBatches(ds, cfg.batch_size, cfg.seed, info.rank, info.world)
        resumed_from = _load_last(trainer, out) if resume else None
        start = resumed_from or 0
        run = _Run(cfg, out, info, trainer, _eval_images(cfg, source))
        if info.is_main:
            _record_start(run, stored, resumed_from, start)
        psnr_start = _psnr_start(run, start) if info.is_main else None
        end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
        last_metrics = _train_steps(run, batches, start, end)
        final, psnr_end, usage_end = _finish(run, end)
        return TrainResult(
            run_dir=str(out),
            architecture=cfg.architecture,
            steps=end,
            resumed_from=resumed_from,
            final_checkpoint=final,
            psnr_start=psnr_start,
            psnr_end=psnr_end,
            usage_end=usage_end,
            seconds=time.time() - t0,
            last_metrics=last_metrics,
        )
    finally:
        tdist.teardown(info)


@contextlib.contextmanager
def _no_bar():
    """Progress of non-zero ranks is not drawn (rank 0 speaks for the run)."""

    class _Null:
        def advance(self, n: int = 1) -> None:
            pass

    yield _Null()


def _append(path: Path, record: dict[str, Any]) -> None:
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
    with open(path, "a") as f:
        f.write(json.dumps(clean) + "\n")
        f.flush()

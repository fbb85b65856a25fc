"""The demo's stages, each writing a checkpoint or a JSON file that the next stage reads.

    fit k-means -> train its pixel decoder -> train vqgan-tiny, vae-tiny, msvq-tiny
    -> per tokenizer: recon + stability + generation probe (``seeds`` probes) with gFID beside its
       real-data floor (eval/NAME.json, NAME_images.npz, NAME_arrays.npz: what paired decisions need)
    -> per tokenizer: latent diagnostics (latent/NAME.json: statistics, spectrum, equivariance, iFID)
    -> once: probe-check on vqgan-tiny, the ladder of known order (eval/probe_check.json)
    -> per tokenizer: codebook inspection (inspect/NAME/)
    -> report: paired decisions between every pair of tokenizers, index.html + demo.json

A stage is done when its output exists (every output is written atomically), so a rerun after a
kill skips finished stages; a training killed half-way resumes from its ``checkpoints/last``.
``out/settings.json`` records the settings: a rerun with other settings into the same folder is
refused rather than mixed.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokkit.analysis.report import write_bytes_atomic
from tokkit.demo.folder import PROBE_CHECK, latent_json, load_decisions, write_json
from tokkit.demo.settings import DEFAULT, DemoSettings
from tokkit.errors import UsageError

PROBE_CHECK_TOKENIZER = "vqgan-tiny"  # the tokenizer the probe-check ladder is built from


@dataclass
class Stage:
    name: str
    output: Path  # done when this exists
    run: Callable[[], Any]


@dataclass
class Study:
    """The tokenizers of one demo: name -> checkpoint directory (trained here or given)."""

    out: Path
    settings: DemoSettings
    device: torch.device
    extra: dict[str, Path]

    @property
    def kmeans_dir(self) -> Path:
        return self.out / "tokenizers" / "kmeans"

    def run_dir(self, family: str) -> Path:
        return self.out / "train" / family

    def checkpoints(self) -> dict[str, Path]:
        found = {"kmeans": self.run_dir("kmeans-decoder") / "checkpoints" / "final"}
        found.update({f: self.run_dir(f) / "checkpoints" / "final" for f in self.settings.families})
        return {**found, **self.extra}

    def eval_json(self, name: str) -> Path:
        return self.out / "eval" / f"{name}.json"

    def arrays_npz(self, name: str) -> Path:
        return self.out / "eval" / f"{name}_arrays.npz"

    def latent_json(self, name: str) -> Path:
        return latent_json(self.out, name)

    @property
    def probe_check_json(self) -> Path:
        return self.out / "eval" / f"{PROBE_CHECK}.json"


def _label(path: Path, taken: set[str]) -> str:
    """RUN for RUN/checkpoints/final, else the folder name; numbered when taken."""
    parts = [p for p in path.resolve().parts if p not in {"final", "last", "checkpoints"}]
    name = parts[-1] if parts else str(path)
    label, i = name, 2
    while label in taken:
        label, i = f"{name}-{i}", i + 1
    return label


# ---------------------------------------------------------------------------------------------
# Stage bodies
# ---------------------------------------------------------------------------------------------
def _fit_kmeans(study: Study) -> None:
    from tokkit.clustering.fit import fit_kmeans

    s = study.settings
    fit_kmeans(
        s.codebook_size,
        study.kmeans_dir,
        encoder=s.encoder,
        data=s.data,
        layer=s.layer,
        image_size=s.image_size,
        sample=s.kmeans_sample,
        seed=1234,
        device=str(study.device),
        batch_size=s.batch_size,
    )


def _train(study: Study, family: str) -> dict[str, Any]:
    """Train one family (``kmeans-decoder``: the k-means tokenizer's pixel decoder); resumes a killed run."""
    from tokkit.train import resolve_config, train

    s = study.settings
    run = study.run_dir(family)
    flags: dict[str, Any] = {"data": s.data, "steps": s.train_steps, "batch_size": s.train_batch_size, "seed": s.seed}
    if family == "kmeans-decoder":
        flags["tokenizer"] = str(study.kmeans_dir)
    else:
        flags["image_size"] = s.image_size
    sets = {f"model.{k}": v for k, v in s.model_overrides(family).items()}
    cfg = resolve_config(family, flags=flags, sets=sets)
    resume = (run / "config.json").is_file()
    if resume and not (run / "checkpoints" / "last").is_dir():  # killed before its first checkpoint
        shutil.rmtree(run)
        resume = False
    return train(cfg, run, resume=resume, device=str(study.device)).to_dict()


@contextlib.contextmanager
def _capture_decoded(tok: Any, keep: int) -> Iterator[list[torch.Tensor]]:
    """Keep the first ``keep`` images the tokenizer decodes inside the block (the probe's samples)."""
    shown: list[torch.Tensor] = []
    original = tok.decode

    def decode(tokens: Any) -> torch.Tensor:
        images = original(tokens)
        if len(shown) < keep:
            shown.extend(images.detach().float().clamp(-1, 1).cpu()[: keep - len(shown)])
        return images

    tok.decode = decode
    try:
        yield shown
    finally:
        del tok.decode  # the class's method again


def _generation_stage(tok: Any, study: Study, feats: Any) -> dict[str, Any]:
    """The demo's call of the generation probe: each kind's default order and head (raster for
    discrete, next-scale for multi-scale, random + diffusion head for continuous), one budget."""
    from tokkit.generation import ProbeConfig, evaluate_generation

    s = study.settings
    with _capture_decoded(tok, s.show_images) as shown:
        gen = evaluate_generation(
            tok,
            s.eval_data,
            num_images=s.eval_images,
            image_size=s.image_size,
            batch_size=s.batch_size,
            probe=ProbeConfig(steps=s.probe_steps),
            samples=s.samples,
            fid_features=feats,
            device=study.device,
            use_cache=True,
            seed=s.seed,
            seeds=s.seeds,
        )
    probe = gen["probe"]
    return {
        "gfid": gen["gfid"],
        "gfid_std": gen.get("gfid_std"),
        "gfid_seeds": gen.get("gfid_seeds"),
        "kid": gen.get("kid"),
        "kid_std": gen.get("kid_std"),
        "kid_seeds": gen.get("kid_seeds"),
        "seeds": gen.get("seeds"),
        "gfid_floor": gen["gfid_floor"],
        "gfid_heldout": gen["gfid_heldout"],
        "rfid": gen["rfid"],
        "order": gen["order"],
        "head": gen["head"],
        "bits_per_token": gen["bits_per_token"],
        "diffusion_loss": gen["diffusion_loss"],
        "tokens_per_image": probe.get("sequence_length"),
        "reason": probe.get("not_defined", {}).get("gfid"),
        "samples": shown,
        "result": gen,
    }


def _images(tok: Any, study: Study) -> dict[str, np.ndarray]:
    """The first images of the evaluation set and their reconstructions, uint8 (n, H, W, 3)."""
    from tokkit.data import iter_batches
    from tokkit.data.transforms import to_uint8
    from tokkit.metrics import _common as C

    s = study.settings
    _, x, _ = next(iter_batches(C.resolve_source(s.eval_data), s.image_size, s.show_images, 0, s.show_images))
    out = {"originals": np.asarray(to_uint8(x))}
    if tok.can_decode:
        with torch.no_grad():
            out["reconstructions"] = np.asarray(to_uint8(tok.reconstruct(x.to(study.device)).float().clamp(-1, 1)))
    return out


def _code_counts(tok: Any, study: Study) -> list[list[int]]:
    """Per scale: how often each code occurs over the evaluation set (empty for continuous tokenizers)."""
    from tokkit.data import iter_batches
    from tokkit.metrics import _common as C
    from tokkit.metrics.usage import code_counts

    s = study.settings
    if tok.kind == "continuous" or not tok.codebook_size:
        return []
    source = C.resolve_source(s.eval_data)
    counts: list[np.ndarray] = []
    with torch.no_grad():
        for _, x, _ in iter_batches(source, s.image_size, s.batch_size, 0, min(s.eval_images, len(source))):
            for i, m in enumerate(tok.encode(x.to(study.device)).index_maps()):
                c = code_counts(m, tok.codebook_size)
                counts.append(c) if i >= len(counts) else counts.__setitem__(i, counts[i] + c)
    return [c.tolist() for c in counts]


def _save_arrays(path: Path, arrays: dict[str, Any]) -> None:
    """The per-image values (psnr, ssim, lpips, stability_*) and features (real, recon) that paired
    decisions resample, float32, atomically (an absent array is left out)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items() if v is not None})
    write_bytes_atomic(path, buf.getvalue())


def _evaluate(study: Study, name: str, ckpt: Path, feats: Any) -> None:
    """Recon, stability and generation of one tokenizer -> eval/NAME.json (+ NAME_images.npz, NAME_arrays.npz)."""
    from tokkit.data.transforms import to_uint8
    from tokkit.demo.rows import make_row, stability_arrays
    from tokkit.device import seed_everything
    from tokkit.io.checkpoint import load_tokenizer
    from tokkit.metrics.recon import evaluate_recon
    from tokkit.metrics.stability import evaluate_stability

    s = study.settings
    tok = load_tokenizer(ckpt, study.device)
    common = {"num_images": s.eval_images, "image_size": s.image_size, "batch_size": s.batch_size}
    seed_everything(s.seed)
    arrays: dict[str, Any] = {}
    rec = evaluate_recon(
        tok, s.eval_data, fid_features=feats, device=study.device, allow_no_decoder=True, arrays_out=arrays, **common
    )
    per_snr: dict[str, Any] = {}
    stab = evaluate_stability(
        tok, s.eval_data, snr_db=s.snr_db, seed=s.seed, device=study.device, arrays_out=per_snr, **common
    )
    arrays.update(stability_arrays(per_snr, stab, s.mid_snr))
    seed_everything(s.seed)
    gen = _generation_stage(tok, study, feats)
    images = _images(tok, study)
    if gen["samples"]:
        images["samples"] = np.asarray(to_uint8(torch.stack(gen["samples"])))
    buf = io.BytesIO()
    np.savez_compressed(buf, **images)
    write_bytes_atomic(study.out / "eval" / f"{name}_images.npz", buf.getvalue())
    _save_arrays(study.arrays_npz(name), arrays)  # before NAME.json, which marks the stage done
    counts = _code_counts(tok, study)
    row = make_row(name, str(ckpt), rec, stab, gen, s.mid_snr)
    gen_result = gen.pop("result")
    gen.pop("samples")
    write_json(
        study.eval_json(name),
        {"row": row, "recon": rec, "stability": stab, "generation": gen_result, "probe": gen, "counts": counts},
    )


def _latent(study: Study, name: str, ckpt: Path, feats: Any) -> None:
    """Latent diagnostics of one tokenizer (``eval latent`` on the evaluation images, the same feature
    network) -> latent/NAME.json."""
    from tokkit.device import seed_everything
    from tokkit.io.checkpoint import load_tokenizer
    from tokkit.metrics.latent import evaluate_latent

    s = study.settings
    seed_everything(s.seed)
    r = evaluate_latent(
        load_tokenizer(ckpt, study.device), s.eval_data, num_images=s.eval_images, image_size=s.image_size,
        batch_size=s.batch_size, fid_features=feats, device=study.device, seed=s.seed,
    )  # fmt: skip
    write_json(study.latent_json(name), r)


def _probe_check(study: Study, ckpt: Path, feats: Any) -> None:
    """Probe-check once, on the ladder built from one tokenizer (``PROBE_CHECK_TOKENIZER``), with the
    demo's probe budget, samples, evaluation images, feature network and seeds (at least 2: a rung
    needs an interval) -> eval/probe_check.json."""
    from tokkit.device import seed_everything
    from tokkit.generation import ProbeConfig
    from tokkit.generation.probe_check import probe_check
    from tokkit.io.checkpoint import load_tokenizer

    s = study.settings
    tok = load_tokenizer(ckpt, study.device)
    seed_everything(s.seed)
    result = probe_check(
        tok,
        s.eval_data,
        levels=s.probe_check_levels,
        seeds=max(2, s.seeds),
        seed=s.seed,
        device=study.device,
        num_images=s.eval_images,
        image_size=s.image_size,
        batch_size=s.batch_size,
        probe=ProbeConfig(steps=s.probe_steps),
        samples=s.samples,
        fid_features=feats,
        use_cache=True,
    )
    write_json(study.probe_check_json, {"tokenizer": PROBE_CHECK_TOKENIZER, "checkpoint": str(ckpt), **result})


def _inspect(study: Study, name: str, ckpt: Path) -> None:
    """``tokkit inspect codebook`` of one tokenizer over the evaluation images -> inspect/NAME/report.html."""
    from tokkit.analysis.codebook_report import inspect_codebook

    s = study.settings
    inspect_codebook(
        ckpt,
        data=s.eval_data,
        out=study.out / "inspect" / name,
        image_size=s.image_size,
        batch_size=s.batch_size,
        limit=s.eval_images,
        umap_sample=s.umap_points,
        seed=s.seed,
        device=str(study.device),
    )


# ---------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------
def _check_settings(out: Path, settings: DemoSettings, extra: dict[str, Path]) -> None:
    """One folder, one study: refuse to mix the outputs of other settings into it."""
    record = {"settings": settings.to_dict(), "tokenizers": {k: str(v) for k, v in extra.items()}}
    path = out / "settings.json"
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored != json.loads(json.dumps(record)):
            changed = sorted(
                k for k in set(stored.get("settings", {})) | set(record["settings"])
                if stored.get("settings", {}).get(k) != json.loads(json.dumps(record["settings"])).get(k)
            ) or ["--tokenizer"]  # fmt: skip
            raise UsageError(
                f"'{out}' holds a demo run with other settings ({', '.join(changed)})",
                hint="give another --out, or delete the folder to start over",
            )
        return
    write_json(path, record)


def plan(study: Study, feats: Callable[[], Any]) -> list[Stage]:
    """Every stage in order; ``feats`` builds the (shared) gFID/rFID feature network on first use."""
    stages = [Stage("fit k-means", study.kmeans_dir / "config.json", lambda: _fit_kmeans(study))]
    for family in ("kmeans-decoder", *study.settings.families):
        final = study.run_dir(family) / "checkpoints" / "final" / "config.json"
        stages.append(Stage(f"train {family}", final, lambda f=family: _train(study, f)))
    ckpts = study.checkpoints()
    for name, ckpt in ckpts.items():
        stages.append(
            Stage(f"evaluate {name}", study.eval_json(name), lambda n=name, c=ckpt: _evaluate(study, n, c, feats()))
        )
    for name, ckpt in ckpts.items():
        stages.append(
            Stage(f"latent {name}", study.latent_json(name), lambda n=name, c=ckpt: _latent(study, n, c, feats()))
        )
    if PROBE_CHECK_TOKENIZER in ckpts and study.settings.probe_check_levels:
        ckpt = ckpts[PROBE_CHECK_TOKENIZER]
        stages.append(
            Stage(f"probe-check {PROBE_CHECK_TOKENIZER}", study.probe_check_json,
                  lambda c=ckpt: _probe_check(study, c, feats()))
        )  # fmt: skip
    for name, ckpt in ckpts.items():
        report = study.out / "inspect" / name / "report.html"
        stages.append(Stage(f"inspect {name}", report, lambda n=name, c=ckpt: _inspect(study, n, c)))
    return stages


def run_demo(
    out: str | Path = "runs/demo",
    settings: DemoSettings = DEFAULT,
    tokenizers: list[str | Path] | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Run (or finish) the demo into ``out``; returns {"rows", "decisions", "report", "stages", "skipped", "ran",
    "stage_times", "settings"}."""
    from tokkit.demo.report import write_report
    from tokkit.device import resolve_device
    from tokkit.io.checkpoint import read_checkpoint_config
    from tokkit.progress import task

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out '{out}' is a file", hint="give a folder")
    taken = {"kmeans", PROBE_CHECK, *settings.families}
    extra: dict[str, Path] = {}
    for t in tokenizers or []:
        p = Path(t)
        read_checkpoint_config(p)  # a bad path fails now, not after the training stages
        extra[_label(p, taken | set(extra))] = p.resolve()
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, settings, extra)
    study = Study(out, settings, resolve_device(device), extra)
    shared: dict[str, Any] = {}

    def feats() -> Any:
        if "feats" not in shared:
            from tokkit.metrics.fid import create_fid_features

            shared["feats"] = create_fid_features(settings.fid_features, None, study.device)
        return shared["feats"]

    stages = plan(study, feats)
    skipped, ran = [], []
    times_path = out / "stage_times.json"
    times = json.loads(times_path.read_text()) if times_path.is_file() else {}
    with task("tokkit demo", total=len(stages) + 1) as bar:
        for i, stage in enumerate(stages):
            bar.update(f"tokkit demo [{i + 1}/{len(stages) + 1}] {stage.name}")
            if stage.output.exists():
                skipped.append(stage.name)
            else:
                wall, cpu = time.perf_counter(), time.process_time()
                stage.run()
                ran.append(stage.name)
                # wall and CPU seconds (all threads) of the run that finished the stage
                times[stage.name] = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
                write_json(times_path, times)
            bar.advance(1)
        bar.update(f"tokkit demo [{len(stages) + 1}/{len(stages) + 1}] report")
        rows = [json.loads(study.eval_json(n).read_text())["row"] for n in study.checkpoints()]
        report = write_report(out, rows, settings)
        bar.advance(1)
    return {
        "rows": rows,
        "decisions": load_decisions(out),
        "report": str(report),
        "stages": [s.name for s in stages] + ["report"],
        "skipped": skipped,
        "ran": ran,
        "stage_times": times,
        "settings": settings.to_dict(),
    }

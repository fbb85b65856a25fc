"""``inspect_features`` and ``inspect_tokens``: look inside HDF5 feature and token stores.

Both read the store in row chunks (memory flat in N). A store that is not a tokkit store, is
incomplete (unless ``partial``) or holds no rows is a clear ``StoreError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tokkit.analysis import plots
from tokkit.analysis.codebook import summary_stats, usage_details
from tokkit.analysis.codebook_report import InspectResult
from tokkit.analysis.embed import sample_rows, umap_embed
from tokkit.analysis.report import Section, check_out_dir, render_html, write_bytes_atomic
from tokkit.errors import StoreError
from tokkit.progress import task

CHUNK_ROWS = 256


def _open(path: str | Path, kind: str, partial: bool) -> tuple[Any, dict[str, Any], int]:
    from tokkit.io.h5store import open_store, store_attrs

    f = open_store(path, kind, allow_incomplete=partial)
    attrs = store_attrs(f)
    committed = int(attrs.get("committed", 0))
    if committed <= 0:
        f.close()
        raise StoreError(f"'{path}' is empty: no rows were written", hint="rerun the command that wrote it")
    return f, attrs, committed


def _completeness(attrs: dict[str, Any], committed: int) -> dict[str, Any]:
    n = int(attrs.get("num_rows", committed))
    return {
        "num_rows": n,
        "committed": committed,
        "complete": bool(attrs.get("complete", False)),
        "fraction": committed / max(n, 1),
    }


def _write_report(out: Path, title: str, subtitle: str, sections: list[Section], figures: dict[str, tuple[str, bytes]]):
    files = {}
    out.mkdir(parents=True, exist_ok=True)
    for name, (caption, png) in figures.items():
        write_bytes_atomic(out / f"{name}.png", png)
        files[name] = str(out / f"{name}.png")
        sections.append(Section(caption.split(":")[0], figures=[(caption, png)]))
    write_bytes_atomic(out / "report.html", render_html(title, subtitle, sections).encode("utf-8"))
    files["report"] = str(out / "report.html")
    return files


def _read_feature_sample(src: Any, rows: np.ndarray, umap_sample: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Over the sampled ``rows``: the norms of the finite vectors, up to ``umap_sample``-ish finite
    vectors for the UMAP, and the number of non-finite vectors."""
    _, t_len, d = src.shape
    rng = np.random.default_rng(seed)
    norms, vectors, nonfinite = [], [], 0
    per_row = max(1, umap_sample // max(len(rows), 1) + 1)
    with task(f"Reading {len(rows)} sampled rows", total=len(rows)) as t:
        for a in range(0, len(rows), CHUNK_ROWS):
            idx = rows[a : a + CHUNK_ROWS]
            x = src.read_rows(idx).astype(np.float32)  # (c, T, D); sorted unique indices
            bad = ~np.isfinite(x).all(-1)
            nonfinite += int(bad.sum())
            norms.append(np.linalg.norm(np.where(bad[..., None], 0, x), axis=-1)[~bad])
            take = rng.choice(t_len, size=(len(idx), min(per_row, t_len)), replace=True)
            v = np.take_along_axis(x, take[..., None], axis=1).reshape(-1, d)
            vectors.append(v[np.isfinite(v).all(1)])
            t.advance(len(idx))
    return np.concatenate(norms), np.concatenate(vectors), nonfinite


def _feature_summary(
    path: str | Path, src: Any, norms: np.ndarray, n_vectors: int, nonfinite: int, n_rows: int, seed: int
) -> dict[str, Any]:
    n, t_len, d = src.shape
    attrs = src.attrs
    return {
        "path": str(path),
        "kind": "feature",
        "shape": [int(n), int(t_len), int(d)],
        "dtype": str(src.dtype),
        "source_kind": src.kind,
        "encoder": attrs.get("encoder") if not src.external else None,
        "layer": attrs.get("layer") if not src.external else None,
        "image_size": attrs.get("image_size") if not src.external else None,
        "grid": list(src.grid) if src.grid else None,
        "num_classes": None if (lab := src.labels()) is None else len(lab[1]),
        "normalisation": attrs.get("normalisation", attrs.get("normalization")),
        "completeness": _completeness(attrs if not src.external else {"complete": True}, src.committed),
        "norm": summary_stats(norms),
        "nonfinite_vectors": nonfinite,
        "sample": {"rows": int(n_rows), "vectors": n_vectors, "seed": seed},
    }


def _feature_figures(
    norms: np.ndarray, vec: np.ndarray, n_rows: int, umap_sample: int, seed: int
) -> dict[str, tuple[str, bytes]]:
    figures: dict[str, tuple[str, bytes]] = {
        "norms": (
            f"Norms: L2 norm of the feature vectors in {n_rows} rows sampled with seed {seed}.",
            plots.histogram_plot([(norms, "L2 norm", "Feature vector norms")]),
        )
    }
    pick = sample_rows(len(vec), umap_sample, seed)
    emb = umap_embed(vec[pick], seed=seed)
    if emb is not None:
        figures["umap"] = (
            f"UMAP: {len(pick)} feature vectors sampled with seed {seed}, coloured by L2 norm.",
            plots.embedding_plot(
                emb, np.linalg.norm(vec[pick], axis=1), "L2 norm", f"UMAP of {len(pick)} feature vectors"
            ),
        )
    return figures


def _feature_sections(path: str | Path, summary: dict[str, Any]) -> list[Section]:
    c = summary["completeness"]
    return [
        Section(
            "Store",
            tables=[
                (
                    "",
                    [],
                    [
                        ["path", str(path)],
                        ["shape (N, T, D)", " x ".join(map(str, summary["shape"]))],
                        ["dtype", summary["dtype"]],
                        ["encoder", summary["encoder"]],
                        ["layer", summary["layer"]],
                        ["image size", summary["image_size"]],
                        ["grid", summary["grid"]],
                        ["rows written", f"{c['committed']} / {c['num_rows']}"],
                        ["complete", c["complete"]],
                        ["non-finite vectors (sample)", summary["nonfinite_vectors"]],
                    ],
                ),
                ("L2 norm (sample)", ["statistic", "value"], [[k, v] for k, v in summary["norm"].items()]),
            ],
        )
    ]  # fmt: skip


def inspect_features(
    path: str | Path,
    out: str | Path | None = None,
    sample_rows_max: int = 1024,
    umap_sample: int = 2000,
    seed: int = 0,
    partial: bool = False,
    grid: str | None = None,
) -> InspectResult:
    """Shape, dtype, completeness, norm statistics (over a fixed-seed sample of rows) and a UMAP
    of sampled feature vectors. ``path``: any feature file ``open_features`` reads, (N, T, D)."""
    from tokkit.data.features import open_features

    check_out_dir(out)
    with open_features(path, grid=grid, allow_incomplete=partial) as src:
        if src.committed <= 0:
            raise StoreError(f"'{path}' is empty: no rows were written", hint="rerun the command that wrote it")
        rows = sample_rows(src.committed, sample_rows_max, seed)
        norms, vec, nonfinite = _read_feature_sample(src, rows, umap_sample, seed)
        n_vectors = int(min(len(vec), umap_sample))
        summary = _feature_summary(path, src, norms, n_vectors, nonfinite, len(rows), seed)
    files: dict[str, str] = {}
    if out is not None:
        figures = _feature_figures(norms, vec, len(rows), umap_sample, seed)
        sections = _feature_sections(path, summary)
        files = _write_report(Path(out), f"Feature store: {Path(path).name}", str(path), sections, figures)
    return InspectResult(summary, files)


def _token_datasets(f: Any, path: str | Path) -> list[str]:
    """``tokens`` or one ``tokens*`` dataset per scale (sorted coarse to fine by size)."""
    names = [k for k in f.keys() if k.startswith("tokens") and hasattr(f[k], "shape")]
    if not names:
        raise StoreError(f"'{path}' has no 'tokens' dataset: not a token store")
    return sorted(names, key=lambda k: (int(np.prod(f[k].shape[1:])), k))


def _position_entropy(counts: np.ndarray) -> np.ndarray:
    """counts (P, K) -> entropy in bits (P,) of the code distribution at each position."""
    total = counts.sum(1, keepdims=True)
    p = counts / np.maximum(total, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(p > 0, p * np.log2(p), 0.0)).sum(1)
    return np.maximum(h, 0.0) + 0.0  # no -0.0 from rounding


def _token_grid(ds: Any, name: str, path: str | Path, attrs: dict[str, Any], single: bool) -> list[int]:
    """[h, w] of a token dataset: its own (N, h, w) shape, or the store's ``grid`` for (N, T) when it fits."""
    if not np.issubdtype(ds.dtype, np.integer):
        raise StoreError(f"'{path}': dataset '{name}' holds {ds.dtype}, expected integer token ids")
    if ds.ndim == 3:
        return [int(ds.shape[1]), int(ds.shape[2])]
    if ds.ndim == 2:
        g = attrs.get("grid")
        ok = isinstance(g, list) and len(g) == 2 and g[0] * g[1] == ds.shape[1] and single
        return [int(g[0]), int(g[1])] if ok else [1, int(ds.shape[1])]
    raise StoreError(f"'{path}': dataset '{name}' has shape {ds.shape}, expected (N, h, w) or (N, T)")


def _count_scale(ds: Any, name: str, path: str | Path, grid: list[int], k: int, committed: int, bar: Any) -> dict:
    """One dataset: code counts (K,) and the per-position entropy map (h, w), read in row chunks."""
    positions = grid[0] * grid[1]
    pos_counts = np.zeros((positions, k), np.int64)  # (P, K): code histogram per position
    offsets = (np.arange(positions, dtype=np.int64) * k)[None, :]
    for a in range(0, committed, CHUNK_ROWS):
        x = ds[a : min(a + CHUNK_ROWS, committed)].reshape(-1, positions).astype(np.int64)
        if x.size and (x.min() < 0 or x.max() >= k):
            raise StoreError(
                f"'{path}': dataset '{name}' has token ids outside [0, {k}) (min {x.min()}, max {x.max()})"
            )
        pos_counts += np.bincount((x + offsets).reshape(-1), minlength=positions * k).reshape(positions, k)
        bar.advance(len(x))
    ent = _position_entropy(pos_counts).reshape(grid)
    return {"dataset": name, "grid": grid, "counts": pos_counts.sum(0), "entropy": ent}


def _count_tokens(f: Any, path: str | Path, attrs: dict[str, Any], committed: int) -> tuple[int, list[dict]]:
    """(K, one entry per scale, coarse to fine)."""
    k = attrs.get("codebook_size")
    if not isinstance(k, int) or k < 1:
        raise StoreError(f"'{path}' has no valid 'codebook_size' attribute: not a token store")
    names = _token_datasets(f, path)
    scales = []
    with task("Counting tokens", total=committed * len(names)) as t:
        for name in names:
            ds = f[name]
            grid = _token_grid(ds, name, path, attrs, len(names) == 1)
            scales.append(_count_scale(ds, name, path, grid, k, committed, t))
    return k, scales


def _token_summary(path: str | Path, attrs: dict[str, Any], committed: int, k: int, scales: list[dict]) -> dict:
    total_counts = np.sum([s["counts"] for s in scales], axis=0)
    max_bits = float(np.log2(min(k, committed))) if committed > 1 else 0.0
    finest = scales[-1]
    summary: dict[str, Any] = {
        "path": str(path),
        "kind": "token",
        "num_rows": committed,
        "grid": finest["grid"],
        "codebook_size": k,
        "tokenizer": attrs.get("tokenizer"),
        "completeness": _completeness(attrs, committed),
        "usage": usage_details(total_counts),
        "position_entropy_bits": {
            **{key: v for key, v in summary_stats(finest["entropy"]).items() if key != "std"},
            "max_possible": max_bits,
        },
        "entropy_map": np.round(finest["entropy"], 4).tolist(),
    }
    if len(scales) > 1:
        summary["per_scale"] = [
            {
                "dataset": s["dataset"],
                "grid": s["grid"],
                **usage_details(s["counts"], top=3),
                "mean_position_entropy_bits": float(s["entropy"].mean()),
            }
            for s in scales
        ]
    return summary


def _token_figures(scales: list[dict], committed: int, max_bits: float) -> dict[str, tuple[str, bytes]]:
    total_counts = np.sum([s["counts"] for s in scales], axis=0)
    per_scale = [s["counts"] for s in scales] if len(scales) > 1 else None
    figures = {
        "usage": (
            "Usage: codes sorted by frequency over the whole store (log axis); dashed line = uniform.",
            plots.usage_plot(total_counts, per_scale, f"Code usage over {committed} token maps"),
        )
    }
    for i, s in enumerate(scales):
        name = "entropy" if len(scales) == 1 else f"entropy_scale{i + 1}"
        figures[name] = (
            f"Entropy{'' if len(scales) == 1 else f' (scale {i + 1})'}: per-position entropy of the code "
            f"distribution across {committed} images, in bits (max {max_bits:.2f}). Low values mark positions "
            "where the tokenizer nearly always emits the same codes.",
            plots.heatmap_plot(s["entropy"], "bits", f"Per-position code entropy ({s['dataset']})", max_bits or None),
        )
    return figures


def _token_sections(path: str | Path, summary: dict[str, Any]) -> list[Section]:
    u = summary["usage"]
    return [
        Section(
            "Store",
            tables=[
                ("", [], [["path", str(path)], ["tokenizer", summary["tokenizer"]], ["rows", summary["num_rows"]],
                          ["grid", "x".join(map(str, summary["grid"]))], ["codebook size", summary["codebook_size"]]]),
                ("usage", ["", ""], [[a, b] for a, b in u.items() if not isinstance(b, list)]),
                ("most used", ["code", "count", "fraction"],
                 [[r["code"], r["count"], r["fraction"]] for r in u["most_used"]]),
            ],
        )
    ]  # fmt: skip


def inspect_tokens(path: str | Path, out: str | Path | None = None, partial: bool = False) -> InspectResult:
    """Usage of the codes over the whole store and the per-position entropy map (bits): how
    predictable the code at each grid position is across images."""
    check_out_dir(out)
    f, attrs, committed = _open(path, "token", partial)
    try:
        k, scales = _count_tokens(f, path, attrs, committed)
    finally:
        f.close()
    summary = _token_summary(path, attrs, committed, k, scales)
    files: dict[str, str] = {}
    if out is not None:
        figures = _token_figures(scales, committed, summary["position_entropy_bits"]["max_possible"])
        sections = _token_sections(path, summary)
        files = _write_report(Path(out), f"Token store: {Path(path).name}", str(path), sections, figures)
    return InspectResult(summary, files)

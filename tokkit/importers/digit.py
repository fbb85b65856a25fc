"""The ``digit`` family: DiGIT's k-means codebooks (``km_8k.npy``, ``km_16k.npy``) -> a tokkit k-means tokenizer.

DiGIT (``preprocess/cluster_kmeans.py``) saves ``faiss.Kmeans(d, K, niter=20).centroids``: float32 (K, D),
plain L2, no normalisation; its tokenizer (``prepare_semantic``) assigns DINOv2 features by
``argmin |x|^2 - 2 x.c + |c|^2`` and adds fairseq's ``dictionary.nspecial`` (not part of the token).
The import copies the centroids and names the encoder whose features they cluster:

| D    | encoder   | DiGIT's model                                          |
|------|-----------|--------------------------------------------------------|
| 768  | ``digit``   | ``vit_base(14, 4)`` + dinov2_vitb14_reg4_pretrain.pth, layer 3 |
| 1024 | ``digit-l`` | ``vit_large(14, 4)`` + dinov2_vitl14_reg4_pretrain.pth, layer 3 |

``--encoder`` picks another encoder; its D must equal the file's. K comes from the file's shape, never
from its name. The encoder weights are not part of the import: the tokenizer finds them when it
encodes (``--weights``-style search, offline one-line error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokkit.errors import DataError, UsageError
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family

UPSTREAM = Upstream(
    repository="DAMO-NLP-SG/DiGIT",
    commit="cd6d8ca30a89d88cd5e4173ed4ec4e5f0d9493a1",
    files=(
        "preprocess/cluster_kmeans.py",
        "preprocess/dinov2_encoder.py",
        "fairseq_user/image_generation_stage1/model.py",
        "fairseq_user/pretrained_enc/dino/vits.py",
    ),
)
#: feature dim -> the encoder preset DiGIT used for it
PRESET_BY_DIM = {768: "digit", 1024: "digit-l"}
#: DiGIT's stage-1/2 configs feed 256-px crops (``task.input_size: 256``), resized to 224 for DINOv2
DIGIT_IMAGE_SIZE = 256
SUFFIXES = (".npy", ".pt", ".pth", ".safetensors")


def _pick_tensor(obj: dict[str, Any], path: Path) -> Any:
    """A dict holding centroids: its ``centroids`` entry, else its only 2-D array."""
    if "centroids" in obj:
        return obj["centroids"]
    two_d = [k for k, v in obj.items() if hasattr(v, "ndim") and v.ndim == 2]
    if len(two_d) != 1:
        raise DataError(
            f"'{path}' holds {len(two_d)} 2-D tensors ({', '.join(sorted(two_d)[:3]) or 'none'}): "
            "expected one (K, D) centroid tensor, or one named 'centroids'"
        )
    return obj[two_d[0]]


def read_centroids(path: Path) -> np.ndarray:
    """(K, D) float32 centroids from a .npy, .pt/.pth (tensors only) or .safetensors file; one line on bad input."""
    suffix = path.suffix.lower()
    if path.is_dir() or suffix not in SUFFIXES:
        raise DataError(f"'{path}' is not a centroid file: expected a (K, D) array in {', '.join(SUFFIXES)}")
    try:
        if suffix == ".npy":
            arr: Any = np.load(path, allow_pickle=False)  # an object array would need code: refused
        elif suffix == ".safetensors":
            from safetensors.numpy import load_file

            arr = _pick_tensor(load_file(str(path)), path)
        else:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
            arr = _pick_tensor(obj, path) if isinstance(obj, dict) else obj
            if torch.is_tensor(arr):
                arr = (arr.float() if arr.dtype == torch.bfloat16 else arr).detach().numpy()
    except DataError:
        raise
    except Exception as e:  # truncated, not that format, a pickle needing code: all one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise DataError(f"cannot read centroids from '{path}': {first}") from e
    arr = np.asarray(arr) if hasattr(arr, "__array__") else arr
    if not isinstance(arr, np.ndarray) or arr.ndim != 2:
        shape = tuple(arr.shape) if hasattr(arr, "shape") else type(arr).__name__
        raise DataError(f"'{path}' holds {shape}, not a (K, D) centroid array")
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"'{path}' holds {arr.dtype} values; centroids are floating point")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise DataError(f"'{path}' holds {arr.shape[0]} centroid(s) of dim {arr.shape[1]}; a codebook needs K >= 2")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise DataError(f"'{path}' has non-finite values (NaN/inf) in {len(rows)} centroid(s), first row {rows[0]}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def choose_encoder(requested: str | None, k: int, d: int) -> str:
    """The encoder preset for D (or the requested one); its D must equal the file's."""
    from tokkit.encoders import encoder_dim

    spec = requested or PRESET_BY_DIM.get(d)
    if spec is None:
        presets = ", ".join(f"{v} (D={k_})" for k_, v in PRESET_BY_DIM.items())
        hint = " (the array looks transposed: DiGIT's files are (K, D))" if k in PRESET_BY_DIM else ""
        raise UsageError(f"no DiGIT encoder gives {d}-d features{hint}: presets are {presets}; pass --encoder")
    enc_d = encoder_dim(spec)
    if enc_d != d:
        hint = " (the array looks transposed: DiGIT's files are (K, D))" if k == enc_d else ""
        raise DataError(f"the centroids are {d}-d but encoder {spec} gives {enc_d}-d features{hint}")
    return spec


def convert(req: ImportRequest) -> Imported:
    from tokkit.tokenizers.kmeans import KMeansConfig, KMeansTokenizer

    path = Path(req.src)
    centroids = read_centroids(path)
    k, d = centroids.shape
    encoder = choose_encoder(req.encoder, k, d)
    opts = {k: v for k, v in req.options.items() if v is not None and v is not False}  # flags left unset
    image_size = int(opts.pop("image_size", None) or DIGIT_IMAGE_SIZE)
    weights = opts.pop("encoder_weights", None)
    if opts:
        raise UsageError(f"the digit family takes no option(s) {', '.join(sorted(opts))}")
    cfg = KMeansConfig(
        encoder=encoder,
        layer="digit" if encoder in PRESET_BY_DIM.values() else None,
        image_size=image_size,
        codebook_size=int(k),
        dim=int(d),
        encoder_weights=str(Path(weights).expanduser().resolve()) if weights else None,
    )
    tok = KMeansTokenizer(cfg)
    tok.set_centroids(torch.from_numpy(centroids))
    published = {
        "codebook_size": int(k),
        "dim": int(d),
        "kmeans": "faiss.Kmeans(d, K, niter=20): plain L2, no normalisation",
        "encoder": {768: "DINOv2 ViT-B/14 reg4", 1024: "DINOv2 ViT-L/14 reg4"}.get(int(d), encoder),
        "layer": "DiGIT layer=3: block depth-2 of depth (10 of 12, 22 of 24) + final LayerNorm",
        "input_size": DIGIT_IMAGE_SIZE,
        "source_dtype": "float32",
    }
    return Imported(
        tokenizer=tok,
        published=published,
        upstream=UPSTREAM,
        source_files=[path],
        notes=[
            "tokens are centroid indices 0..K-1; DiGIT's fairseq models see them + dictionary.nspecial",
            f"encoder {encoder}: its weights are found when the tokenizer first encodes (not imported)",
        ],
    )


FAMILY = register_family(
    Family(
        name="digit",
        expects="DiGIT km_8k.npy / km_16k.npy, or any (K, D) float array as .npy, .pt/.pth or .safetensors",
        becomes="kmeans: K x D centroids on DiGIT-exact DINOv2 features (D=768: digit, D=1024: digit-l)",
        convert=convert,
    )
)

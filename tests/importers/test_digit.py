"""The digit family and the DiGIT-exact DINOv2 encoder, against DiGIT's own code.

Fixtures (tests/fixtures/import/make_fixtures_digit.py, DiGIT at the commit it names): a small random
DINOv2-reg4 ViT in Meta's layout, DiGIT's features for it (prepare_semantic + get_intermediate_layers),
random centroids and DiGIT's token assignments, and the published models' state_dict keys.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tokkit.encoders import ENCODERS, create_encoder
from tokkit.errors import TokkitError, UsageError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import"
sys.path.insert(0, str(FIX))
from make_fixtures_digit import COMMIT, images  # noqa: E402  (the same input crops as the oracle)

TINY = "test-digit-tiny"
META = json.loads((FIX / "digit_published_keys.json").read_text())
ARCH = {k: META["tiny"][k] for k in ("embed_dim", "depth", "num_heads")}
REF = np.load(FIX / "digit_tiny.npz")
META_PTH = FIX / "digit_tiny_meta.pth"


@pytest.fixture(scope="module", autouse=True)
def tiny_encoder():
    """A test-only encoder spec: the digit encoder with the fixture's small architecture."""
    from tokkit.encoders.digit import DigitEncoder

    ENCODERS.register(TINY, lambda **kw: DigitEncoder("b", spec=TINY, arch=ARCH, **kw), help="test only")
    yield
    ENCODERS.unregister(TINY)


def _meta_state(pos_embed: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    sd = torch.load(META_PTH, weights_only=True)
    if pos_embed is not None:
        sd["pos_embed"] = torch.from_numpy(pos_embed)
    return sd


def _weights(tmp_path: Path, layout: str, pos: str = "smooth") -> Path:
    """The fixture model as Meta's .pth, or as timm's safetensors (timm's own DINOv2 converter)."""
    sd = _meta_state(REF["pos_embed_random"] if pos == "random" else None)
    if layout == "meta":
        path = tmp_path / f"meta_{pos}.pth"
        torch.save(sd, path)
        return path
    from safetensors.torch import save_file
    from timm.models.vision_transformer import _convert_dinov2

    path = tmp_path / f"timm_{pos}.safetensors"
    save_file({k: v.contiguous() for k, v in _convert_dinov2(dict(sd), None).items()}, str(path))
    return path


def _features(enc, size: int, n: int) -> np.ndarray:
    x = torch.from_numpy(images(size, n)) * 2 - 1
    with torch.no_grad():
        f = enc(x)  # (B, D, 16, 16)
    return f.flatten(2).transpose(1, 2).numpy()  # DiGIT's (B, 256, D)


def test_fixture_inputs_are_the_oracles():
    assert np.allclose([images(256, 2).sum(), images(224, 1).sum()], REF["image_sums"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("layout", ["meta", "timm"])
def test_features_equal_digit_both_layouts_both_sizes(tmp_path, layout):
    enc = create_encoder(TINY, weights=str(_weights(tmp_path, layout)))
    assert enc.grid(256) == enc.grid(224) == (16, 16) and enc.dim == ARCH["embed_dim"]
    for key, size, n in (("smooth_256", 256, 2), ("smooth_224", 224, 1)):
        np.testing.assert_allclose(_features(enc, size, n), REF[key], rtol=0, atol=1e-4, err_msg=key)


def test_random_pos_embed_matches_and_stock_timm_does_not(tmp_path):
    import timm

    path = _weights(tmp_path, "timm", "random")
    enc = create_encoder(TINY, weights=str(path))
    np.testing.assert_allclose(_features(enc, 256, 1), REF["random_256"], rtol=0, atol=1e-4)
    # the same weights through timm's own resampling (what tokkit's digit encoder did before): far off
    stock = timm.create_model("vit_base_patch14_reg4_dinov2", pretrained=True, img_size=224, dynamic_img_size=True,
                              pretrained_cfg_overlay=dict(file=str(path)), **ARCH).eval()  # fmt: skip
    x = torch.from_numpy(images(224, 1)) * 2 - 1
    with torch.no_grad():
        f = stock.forward_intermediates(enc._prep(x), indices=[1], norm=True, intermediates_only=True)[0]
    assert np.abs(f.flatten(2).transpose(1, 2).numpy() - REF["random_256"]).max() > 0.05


def _centroid_file(tmp_path: Path, name: str = "km_8k.npy", arr: np.ndarray | None = None) -> Path:
    path = tmp_path / name
    np.save(path, REF["centroids"] if arr is None else arr)
    return path


def test_import_gives_digit_tokens_exactly(tmp_path):
    from tokkit.importers import import_checkpoint
    from tokkit.io.checkpoint import load_tokenizer, read_checkpoint_config

    src = _centroid_file(tmp_path, "km_16k.npy")  # K from the shape (64), never from the name
    w = _weights(tmp_path, "meta")
    summary = import_checkpoint("digit", src, tmp_path / "tok", encoder=TINY, encoder_weights=str(w))
    assert summary["architecture"] == "kmeans" and summary["published"]["codebook_size"] == 64
    cfg = read_checkpoint_config(tmp_path / "tok")
    rec = cfg["provenance"]["imported"]
    assert rec["upstream"] == {"repository": "DAMO-NLP-SG/DiGIT", "commit": COMMIT, "files": rec["upstream"]["files"]}
    assert rec["source_files"][0]["name"] == "km_16k.npy" and len(rec["source_files"][0]["sha256"]) == 64
    assert cfg["args"]["image_size"] == 256 and cfg["args"]["encoder"] == TINY
    tok = load_tokenizer(tmp_path / "tok")
    assert torch.equal(tok.centroids, torch.from_numpy(REF["centroids"]))
    for key, size, n in (("tokens_256", 256, 2), ("tokens_224", 224, 1)):
        idx = tok.encode(torch.from_numpy(images(size, n)) * 2 - 1).indices
        assert idx.shape == (n, 16, 16)
        np.testing.assert_array_equal(idx.reshape(n, -1).numpy(), REF[key], err_msg=key)


def _image_folder(tmp_path: Path) -> Path:
    """The two 256-px oracle images as PNG files (tokkit's eval transform leaves 256 px as is)."""
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir(exist_ok=True)
    for i, im in enumerate(images(256, 2)):
        Image.fromarray(np.rint(im.transpose(1, 2, 0) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def test_tokenize_and_eval_cli_on_imported_digit_codebook(tmp_path, cli):
    import h5py

    from tokkit.importers import import_checkpoint

    import_checkpoint("digit", _centroid_file(tmp_path), tmp_path / "tok", encoder=TINY,
                      encoder_weights=str(_weights(tmp_path, "timm")))  # fmt: skip
    folder = _image_folder(tmp_path)
    r = cli("tokenize", "--tokenizer", tmp_path / "tok", "--data", folder, "--out", tmp_path / "t.h5", "--json")
    assert r.exit_code == 0, r.stderr
    with h5py.File(tmp_path / "t.h5") as f:
        tokens = f["tokens"][:]
    assert tokens.shape == (2, 16, 16)
    np.testing.assert_array_equal(tokens.reshape(2, -1), REF["tokens_256"])
    r = cli("eval", "stability", "--tokenizer", tmp_path / "tok", "--data", folder, "--snr-db", "20", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["protocol"]["tokenizer"]["codebook_size"] == 64 and out["protocol"]["image_size"] == 256
    assert 0.0 <= out["token_change_rate"][0] <= 1.0


def test_extract_cli_at_256_gives_digit_features(tmp_path, cli):
    """`extract --encoder ... --image-size 256` goes through the same encoder: DiGIT's features."""
    import h5py

    folder = _image_folder(tmp_path)
    out = tmp_path / "f.h5"
    r = cli("extract", "--encoder", TINY, "--weights", _weights(tmp_path, "meta"), "--data", folder,
            "--image-size", "256", "--dtype", "float32", "--out", out, "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    with h5py.File(out) as f:
        feats, grid = f["features"][:], list(f.attrs["grid"])
    assert grid == [16, 16]
    np.testing.assert_allclose(feats, REF["smooth_256"], rtol=0, atol=1e-4)


@pytest.mark.parametrize("fmt", ["pt-tensor", "pt-dict", "safetensors"])
def test_centroid_file_formats(tmp_path, fmt):
    from tokkit.importers.digit import read_centroids

    c = torch.from_numpy(REF["centroids"])
    if fmt == "safetensors":
        from safetensors.torch import save_file

        path = tmp_path / "c.safetensors"
        save_file({"centroids": c}, str(path))
    else:
        path = tmp_path / "c.pt"
        torch.save(c if fmt == "pt-tensor" else {"km": c.half().float()}, path)
    np.testing.assert_array_equal(read_centroids(path), REF["centroids"] if fmt != "pt-dict" else c.half().float())


def test_presets_by_dim_without_encoder_weights(tmp_path, offline):
    """D=768 -> digit, D=1024 -> digit-l; the import needs no DINOv2 weights, encoding then names the file."""
    from tokkit.importers import import_checkpoint
    from tokkit.io.checkpoint import load_tokenizer

    rng = np.random.default_rng(0)
    for d, spec, file in ((768, "digit", "vit_base"), (1024, "digit-l", "vit_large")):
        src = _centroid_file(tmp_path, f"c{d}.npy", rng.standard_normal((10, d), dtype=np.float32))
        out = import_checkpoint("digit", src, tmp_path / f"tok{d}")
        assert out["published"]["codebook_size"] == 10
        tok = load_tokenizer(tmp_path / f"tok{d}")
        assert tok.config.encoder == spec and tok.config.layer == "digit"
        with pytest.raises(TokkitError) as e:
            tok.encode(torch.zeros(1, 3, 256, 256))
        assert "\n" not in str(e.value) and f"{file}_patch14_reg4_dinov2.lvd142m" in str(e.value)


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    c = REF["centroids"]
    nan = c.copy()
    nan[5, 3] = np.nan
    good = _centroid_file(tmp_path, "good.npy")
    trunc = tmp_path / "trunc.npy"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code = tmp_path / "code.pt"
    torch.save({"centroids": torch.from_numpy(c), "why": Path("x")}, code)  # a class: needs code to unpickle
    two = tmp_path / "two.safetensors"
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(4, 32), "b": torch.zeros(4, 32)}, str(two))
    return {
        "wrong-d": (_centroid_file(tmp_path, "d31.npy", c[:, :31]), "31-d but encoder test-digit-tiny gives 32-d"),
        "transposed": (_centroid_file(tmp_path, "t.npy", np.ascontiguousarray(c[:40].T)), "transposed"),
        "nan": (_centroid_file(tmp_path, "nan.npy", nan), "non-finite values (NaN/inf) in 1 centroid(s), first row 5"),
        "truncated": (trunc, "cannot read centroids"),
        "pickle-npy": (obj, "cannot read centroids"),
        "pickle-pt": (code, "cannot read centroids"),
        "int": (_centroid_file(tmp_path, "int.npy", np.zeros((4, 32), np.int64)), "int64 values"),
        "1d": (_centroid_file(tmp_path, "v.npy", c[0]), "not a (K, D) centroid array"),
        "two-tensors": (two, "2 2-D tensors"),
        "suffix": (good.rename(tmp_path / "good.txt"), "not a centroid file"),
    }


def test_bad_centroid_files_are_one_line_and_write_nothing(tmp_path):
    from tokkit.importers import import_checkpoint

    for name, (path, want) in _bad_files(tmp_path).items():
        out = tmp_path / f"out-{name}"
        with pytest.raises(TokkitError) as e:
            import_checkpoint("digit", path, out, encoder=TINY)
        msg = str(e.value)
        assert want in msg and "\n" not in msg, (name, msg)
        assert not out.exists() and not list(tmp_path.glob(f".out-{name}*")), name


def test_bad_dims_without_encoder_and_cli_exit_code(tmp_path, cli):
    from tokkit.importers import import_checkpoint

    src = _centroid_file(tmp_path, "c.npy", np.zeros((8, 500), np.float32))
    with pytest.raises(UsageError, match="no DiGIT encoder gives 500-d features.*pass --encoder"):
        import_checkpoint("digit", src, tmp_path / "o")
    with pytest.raises(UsageError, match="no option"):
        import_checkpoint("digit", _centroid_file(tmp_path), tmp_path / "o", encoder=TINY, bogus=1)


def test_digit_encoder_fixes_layer_size_and_weights(tmp_path):
    with pytest.raises(UsageError, match="fixes --layer digit"):
        create_encoder("digit", layer=5, random_init=True)
    enc = create_encoder(TINY, weights=str(_weights(tmp_path, "meta")))
    with pytest.raises(UsageError, match="image size 250 does not fit"):
        enc.grid(250)
    assert enc.grid(518) == (37, 37) and enc.describe()["pos_embed"].startswith("dinov2-meta")
    with torch.device("meta"), pytest.raises(TokkitError) as e:  # the small file into the published model
        create_encoder("digit", weights=str(_weights(tmp_path, "meta")))
    assert "do not fit digit" in str(e.value) and "shape" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("spec", "meta_name", "dim"), [("digit", "vitb14_reg4", 768), ("digit-l", "vitl14_reg4", 1024)]
)
def test_published_architecture_has_metas_keys_shapes_and_parameters(spec, meta_name, dim):
    """The full ViT-B/14-reg4 / ViT-L/14-reg4 (random init on the meta device, no download): Meta's
    state_dict (from DiGIT's builders) remaps onto it key for key and shape for shape."""
    from tokkit.encoders.digit import meta_to_timm

    with torch.device("meta"):
        enc = create_encoder(spec, random_init=True)
    pub = META["published"][meta_name]
    meta_state = {k: torch.empty(s, device="meta") for k, s in pub["keys"].items()}
    mapped = {k: tuple(v.shape) for k, v in meta_to_timm(meta_state).items()}
    own = {k: tuple(v.shape) for k, v in enc.model.state_dict().items()}
    assert mapped == own
    # Meta's count less the two vectors the remap drops: mask_token (pre-training only) and the class
    # slot of pos_embed (folded into cls_token)
    n_own = sum(p.numel() for p in enc.model.parameters())
    assert n_own == sum(int(np.prod(s)) for s in mapped.values()) == pub["parameters"] - 2 * dim
    assert enc.dim == dim and enc.layer == "digit" and enc._take == len(enc.model.blocks) - 3

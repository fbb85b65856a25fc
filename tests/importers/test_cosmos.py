"""cosmos: NVIDIA Cosmos image tokenizers (TorchScript files) -> tokkit cosmos-di / cosmos-ci, checked against
Cosmos's own outputs (fixtures made by tests/fixtures/import/make_fixtures_cosmos.py from
NVIDIA/Cosmos-Tokenizer 3584ae7, traced as NVIDIA's export does)."""

from __future__ import annotations

import json
import math
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tokkit.errors import DataError
from tokkit.importers import import_checkpoint, list_families
from tokkit.importers.cosmos import CI_KEYS, DI_KEYS, infer_arch
from tokkit.io.checkpoint import load_tokenizer
from tokkit.layers.scalar_quant import FSQ
from tokkit.tokenizers import create_tokenizer

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "cosmos"
DI = FIX / "Cosmos-0.1-Tokenizer-DI8x8-tiny"
CI = FIX / "Cosmos-0.1-Tokenizer-CI16x16-tiny"


@pytest.fixture(scope="module")
def ref():
    return load_file(str(FIX / "refs.safetensors"))


@pytest.fixture(scope="module")
def di(tmp_path_factory):
    out = tmp_path_factory.mktemp("cosmos") / "di"
    return import_checkpoint("cosmos", DI, out), load_tokenizer(out)


def test_di_indices_codes_and_reconstructions_match_cosmos(di, ref):
    summary, tok = di
    assert summary["architecture"] == "cosmos-di" and summary["kind"] == "discrete"
    assert summary["upstream"]["repository"] == "NVIDIA/Cosmos-Tokenizer" and summary["upstream"]["commit"] == "3584ae7"
    assert [f["name"] for f in summary["source_files"]] == ["encoder.jit", "decoder.jit"]
    pub = summary["published"]
    assert pub["name"] == "DI8x8" and pub["spatial_compression"] == 8 and pub["patch_size"] == 4
    assert pub["fsq_levels"] == (8, 5, 5, 5) and pub["dtype"] == "float32"
    assert "quantizer.implicit_codebook" in summary["dropped"] and "encoder.patcher.wavelets" in summary["dropped"]
    with torch.no_grad():
        t = tok.encode(ref["di_images"])
        recon = tok.decode(t)
        bound = tok.quantizer._bound(t.features.permute(0, 2, 3, 1).reshape(-1, 4))
    # tie rule: exact equality, valid because no pre-rounding value lies within 1e-4 of a rounding boundary
    assert ((bound - bound.floor() - 0.5).abs().min()) > 1e-4
    assert t.indices.dtype == torch.long and torch.equal(t.indices, ref["di_indices"].long())
    torch.testing.assert_close(t.quantized, ref["di_codes"], atol=0, rtol=0)
    torch.testing.assert_close(recon, ref["di_recon"], atol=1e-4, rtol=0)
    # a real signal: many distinct codes, and other tokens give another picture
    assert ref["di_indices"].unique().numel() > 64 and ref["di_recon"].std() > 0.5
    with torch.no_grad():
        other = tok.decode(type(t)("discrete", indices=t.indices.flip(0)))
    assert (other - recon).abs().mean() > 0.3


def test_ci_bf16_autoencoder_matches_cosmos(tmp_path, ref):
    summary = import_checkpoint("cosmos", CI, tmp_path / "ci")
    assert summary["architecture"] == "cosmos-ci" and summary["kind"] == "continuous"
    pub = summary["published"]
    assert pub["name"] == "CI16x16" and pub["spatial_compression"] == 16 and pub["latent_channels"] == 16
    assert pub["dtype"] == "bfloat16" and pub["files"] == ["autoencoder.jit"]
    assert any("bfloat16, imported as float32" in n for n in summary["notes"])
    tok = load_tokenizer(tmp_path / "ci")
    assert all(v.dtype == torch.float32 for v in tok.state_dict().values())
    with torch.no_grad():
        t = tok.encode(ref["di_images"])
        recon = tok.decode(t)
    torch.testing.assert_close(t.latents, ref["ci_latents"], atol=1e-4, rtol=0)
    torch.testing.assert_close(recon, ref["ci_recon"], atol=1e-4, rtol=0)
    assert ref["ci_latents"].std() > 0.1 and ref["ci_recon"].std() > 0.5
    # the bf16 trace itself (bf16 arithmetic) lands near the fp32 result
    assert (recon - ref["ci_recon_bf16_jit"].float()).abs().mean() < 0.15


def test_fsq_index_order_matches_cosmos_at_published_levels(ref):
    """Cosmos's FSQuantizer at (8, 8, 8, 5, 5, 5): mixed radix, channel 0 least significant, 0..63999."""
    fsq = FSQ((8, 8, 8, 5, 5, 5))
    idx, codes = fsq.snap(ref["fsq_z"])
    assert torch.equal(idx, ref["fsq_indices"].long()) and torch.equal(codes, ref["fsq_codes"])
    assert torch.equal(fsq.lookup(ref["fsq_rand_indices"].long()), ref["fsq_rand_codes"])
    assert fsq.codebook_size == 64000 and int(ref["fsq_indices"].max()) < 64000


def _published_state(name: str) -> dict[str, torch.Tensor]:
    """The published files' tensors as meta tensors of the recorded shapes, the checked buffers real."""
    data = json.loads((FIX / name).read_text())
    state = {k.removeprefix("inv_quant."): torch.empty(s, device="meta")
             for shapes in data["files"].values() for k, s in shapes.items()}  # fmt: skip
    for k in [k for k in state if k.endswith(".wavelets")]:
        state[k] = torch.full((2,), 2**-0.5)
    if "quantizer._levels" in state:
        fsq = FSQ((8, 8, 8, 5, 5, 5))
        state["quantizer._levels"] = torch.tensor([8, 8, 8, 5, 5, 5], dtype=torch.int32)
        state["quantizer._basis"] = fsq._basis.int()
        state["quantizer.implicit_codebook"] = fsq.index_to_codes(torch.arange(64000))
    return state, data["parameters"]


@pytest.mark.parametrize(("file", "name", "table"), [("full_di8x8.json", "cosmos-di", DI_KEYS),
                                                     ("full_ci8x8.json", "cosmos-ci", CI_KEYS)])  # fmt: skip
def test_published_8x8_configs_build_with_the_same_tensors(file, name, table):
    state, parameters = _published_state(file)
    arch = infer_arch(state, discrete=name == "cosmos-di")
    with torch.device("meta"):
        preset = create_tokenizer(name)
        tok = create_tokenizer(name, **arch)
    assert all(getattr(preset.config, k) == v for k, v in arch.items()), arch
    converted, unexpected = table.convert(state, levels=3)
    assert not unexpected
    assert {k: tuple(v.shape) for k, v in converted.items()} == {k: tuple(v.shape) for k, v in tok.state_dict().items()}
    assert sum(p.numel() for p in tok.parameters()) == parameters
    assert sum(math.prod(v.shape) for v in converted.values()) == parameters
    assert name != "cosmos-di" or parameters == 79_004_342


def test_importing_never_loads_or_runs_torchscript(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("TorchScript was loaded")

    monkeypatch.setattr(torch.jit, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(torch._C, "import_ir_module", refuse)
    monkeypatch.setattr(torch._C, "import_ir_module_from_buffer", refuse)
    summary = import_checkpoint("cosmos", DI, tmp_path / "x")
    assert summary["architecture"] == "cosmos-di" and any("without compiling or running" in n for n in summary["notes"])


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load is deprecated
@pytest.mark.parametrize("path", [DI / "encoder.jit", DI / "decoder.jit", CI / "autoencoder.jit"], ids=lambda p: p.name)
def test_reader_gives_torch_jit_loads_state(path):
    """tokkit.io.torchscript reads what torch.jit.load(...).state_dict() holds: same names, dtypes, values."""
    from tokkit.io.torchscript import read_torchscript

    ours = read_torchscript(path).state
    theirs = torch.jit.load(str(path)).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].dtype == v.dtype and torch.equal(ours[k], v) for k, v in theirs.items())


def _copy(src_dir: Path, dst: Path) -> Path:
    shutil.copytree(src_dir, dst)
    return dst


def _rewrite_pickle(path: Path, edit) -> None:
    """Replace ROOT/data.pkl of the TorchScript zip ``path`` by ``edit(bytes)``."""
    entries = {}
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            entries[n] = z.read(n)
    root = next(n for n in entries if n.endswith("/data.pkl"))
    entries[root] = edit(entries[root])
    with zipfile.ZipFile(path, "w") as z:
        for n, b in entries.items():
            z.writestr(n, b)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def _other_jit(path: Path) -> None:
    torch.jit.save(torch.jit.trace(torch.nn.Conv2d(3, 4, 1), torch.zeros(1, 3, 4, 4)), str(path))


def _case(tmp_path: Path, kind: str) -> Path:
    if kind == "empty":
        (tmp_path / "e").mkdir()
        return tmp_path / "e"
    if kind == "wrong-name":
        return _copy(DI, tmp_path / "Cosmos-0.1-Tokenizer-CI16x16")
    src = _copy(DI, tmp_path / "d")
    if kind == "torch-save":
        torch.save({"state_dict": {}}, src / "encoder.jit")
    elif kind == "truncated":
        (src / "decoder.jit").write_bytes((DI / "decoder.jit").read_bytes()[:4000])
    elif kind == "other-jit":
        _other_jit(src / "encoder.jit")
        _other_jit(src / "decoder.jit")
    elif kind == "pickled-code":
        _rewrite_pickle(src / "encoder.jit", lambda _: pickle.dumps(_Evil(), protocol=2))
    elif kind == "video":
        _rewrite_pickle(
            src / "encoder.jit", lambda b: b.replace(b"layers2d\nEncoder\n", b"layers3d\nEncoderFactorized\n")
        )
    elif kind == "mixed":
        shutil.copy(CI / "autoencoder.jit", src / "decoder.jit")
    return src


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "has no encoder.jit \\+ decoder.jit or autoencoder.jit"),
        ("wrong-name", "is named CI16x16, but its weights are a DI8x8 tokenizer"),
        ("torch-save", "is a torch.save checkpoint, not a TorchScript"),
        ("truncated", "not a TorchScript archive"),
        ("other-jit", "TorchScript archive of torch.nn.modules.conv.Conv2d .*not a Cosmos image tokenizer"),
        ("pickled-code", "pickles '__builtin__.print': not a plain TorchScript module"),
        ("video", "is a Cosmos video tokenizer"),
        ("mixed", "differs from the encoder file's"),
    ],
)
@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.trace / save, for the other-jit case
def test_bad_sources_are_one_line_errors_and_write_nothing(tmp_path, kind, message):
    src = _case(tmp_path, kind)
    with pytest.raises(DataError, match=message) as e:
        import_checkpoint("cosmos", src, tmp_path / "out")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def _drop(key):
    return lambda name, state: state.pop(key, None)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop("encoder.mid.attn_1.k.weight"), "encoder.mid.1.qkv.weight"),
        (lambda name, s: name == "decoder.jit" and s.update({"decoder.extra.weight": torch.ones(1)}),
         "unexpected keys: decoder.extra.weight"),
        (_drop("decoder.up.1.block.1.norm2.bias"), "1 missing keys: decoder.up.1.blocks.1.norm2.bias"),
    ],
    ids=["missing-part", "extra", "missing"],
)  # fmt: skip
def test_strict_key_report(tmp_path, monkeypatch, edit, message):
    import tokkit.importers.cosmos as cosmos

    real = cosmos.read_torchscript

    def edited(path):
        archive = real(path)
        edit(path.name, archive.state)
        return archive

    monkeypatch.setattr(cosmos, "read_torchscript", edited)
    with pytest.raises(DataError, match=message):
        import_checkpoint("cosmos", DI, tmp_path / "out")


def test_a_file_of_another_family_is_named():
    src = FIX.parent / "llamagen" / "vq_tiny.pt"
    with pytest.raises(DataError, match="is a 'llamagen' checkpoint, not 'cosmos'"):
        import_checkpoint("cosmos", src, FIX.parent / "never-written")


def test_list_names_the_family():
    fam = {f.name: f for f in list_families()}["cosmos"]
    assert "encoder.jit" in fam.expects and "autoencoder.jit" in fam.expects and "64000" in fam.becomes


def test_cli_import(cli, tmp_path):
    r = cli("import", "cosmos", DI, "--out", tmp_path / "c", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["family"] == "cosmos" and out["architecture"] == "cosmos-di" and out["published"]["name"] == "DI8x8"

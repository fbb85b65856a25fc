"""Contract tests over every registered tokenizer, plus the checkpoint format itself."""

from __future__ import annotations

import json

import pytest
import torch

from tests.tokenizers.contract import CASES, check_contract
from tests.tokenizers.toy import PatchVQ, PatchVQConfig
from tokkit.errors import DataError, UsageError
from tokkit.io.checkpoint import load_tokenizer, read_checkpoint_config, save_checkpoint, torch_load_weights
from tokkit.tokenizers import TOKENIZERS, list_tokenizers, register_tokenizer

try:  # families register their build cases here as they land
    import tests.tokenizers.cases  # noqa: F401
except ImportError:
    pass


@pytest.fixture(autouse=True, scope="module")
def _registered():
    register_tokenizer("test-patchvq", lambda **kw: PatchVQ(PatchVQConfig(**kw)))
    yield
    TOKENIZERS.unregister("test-patchvq")


def test_every_registered_tokenizer_has_a_contract_case():
    missing = [n for n in list_tokenizers() if n != "test-patchvq" and n not in CASES]
    assert not missing, f"add build cases to tests/tokenizers/cases.py for: {missing}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_contract(name, tmp_path):
    builder, size = CASES[name]
    check_contract(builder(tmp_path), size, tmp_path)


def test_contract_on_reference_tokenizer(tmp_path):
    check_contract(PatchVQ(PatchVQConfig()), 16, tmp_path)


def test_checkpoint_files_and_provenance(tmp_path):
    tok = PatchVQ(PatchVQConfig(codebook_size=8))
    save_checkpoint(tok, tmp_path / "c", provenance={"data": "builtin:shapes"})
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    assert cfg["architecture"] == "test-patchvq" and cfg["args"]["codebook_size"] == 8
    assert cfg["format_version"] == 1 and cfg["provenance"]["data"] == "builtin:shapes"
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["config.json", "model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["c"]  # no temp dirs left behind
    # overwrite in place
    save_checkpoint(PatchVQ(PatchVQConfig(codebook_size=8, seed=1)), tmp_path / "c")
    assert not torch.equal(load_tokenizer(tmp_path / "c").codes, tok.codes)


def test_load_errors(tmp_path):
    with pytest.raises(DataError, match="no checkpoint"):
        load_tokenizer(tmp_path / "nope")
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="config.json is missing"):
        load_tokenizer(tmp_path / "d")
    (tmp_path / "d" / "config.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_checkpoint_config(tmp_path / "d")
    (tmp_path / "d" / "config.json").write_text(json.dumps({"format_version": 1, "architecture": "vqgann", "args": {}}))
    with pytest.raises(UsageError, match="unknown tokenizer"):
        load_tokenizer(tmp_path / "d")


def test_mismatched_weights_are_a_clear_error(tmp_path):
    save_checkpoint(PatchVQ(PatchVQConfig(codebook_size=8)), tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    cfg["args"]["codebook_size"] = 9
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(Exception, match="do not fit"):
        load_tokenizer(tmp_path / "c")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_foreign_pt_files_are_read_weights_only(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "ok.pth")
    assert torch.equal(torch_load_weights(tmp_path / "ok.pth")["w"], torch.ones(2))
    torch.save({"state_dict": {"w": torch.zeros(1)}}, tmp_path / "nested.pt")
    assert "w" in torch_load_weights(tmp_path / "nested.pt")
    torch.save({"w": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(DataError, match="tensors only"):
        torch_load_weights(tmp_path / "evil.pt")

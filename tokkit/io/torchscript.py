"""Tensors of a TorchScript archive (``torch.jit.save``), read without running or compiling its code.

A TorchScript file is a zip: ``ROOT/data.pkl`` pickles the module tree (objects of ``__torch__.*``
classes whose state is a dict of attributes: submodules, tensors, flags), ``ROOT/data/N`` hold the
raw tensor storages, ``ROOT/code/`` the TorchScript source, which ``torch.jit.load`` compiles. torch
has no weights-only reader for it (``torch.load(weights_only=True)`` refuses such archives), so this
module unpickles ``data.pkl`` with an allow-list: ``__torch__`` classes become inert records (their
methods are never looked at), storages are read by key with the dtype the pickle names, tensors are
rebuilt from (storage, offset, size, stride); any other global is refused with one line. The result
is what ``torch.jit.load(path).state_dict()`` gives (parameters and every buffer, persistent or not),
on the CPU, in the archive's dtypes.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tokkit.errors import DataError

# the storage classes a TorchScript pickle names -> their element dtype
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class ScriptObject:
    """An inert stand-in for one ``__torch__.*`` object: its class name and attribute dict."""

    qualname = ""

    def __init__(self) -> None:
        self.attrs: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise DataError(f"TorchScript object {self.qualname} has a non-dict state")
        self.attrs = state


@dataclass
class ScriptArchive:
    """``root_class``: the top module's class (``__torch__.`` prefix and ``___torch_mangle_N`` parts
    removed); ``state``: dotted name -> tensor; ``classes``: dotted module name -> its class."""

    root_class: str
    state: dict[str, torch.Tensor]
    classes: dict[str, str] = field(default_factory=dict)


def _clean(qualname: str) -> str:
    parts = [p for p in qualname.removeprefix("__torch__.").split(".") if not p.startswith("___torch_mangle_")]
    return ".".join(parts)


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_: Any) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v2's layout: a view (offset, size, stride) into a flat storage."""
    return storage.as_strided(tuple(size), tuple(stride), int(offset))


def _same(x: Any, *_: Any) -> Any:
    return x


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, root: str, source: str):
        super().__init__(file)
        self._zip, self._root, self._source = archive, root, source
        self._storages: dict[str, torch.Tensor] = {}
        self._classes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__"):
            qual = f"{module}.{name}"
            if qual not in self._classes:
                self._classes[qual] = type(name, (ScriptObject,), {"qualname": _clean(qual)})
            return self._classes[qual]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch.jit._pickle" and name in ("restore_type_tag", "build_intlist", "build_doublelist",
                                                      "build_boollist", "build_tensorlist"):  # fmt: skip
            return _same  # typed-container markers: the value itself
        raise DataError(f"'{self._source}' pickles '{module}.{name}': not a plain TorchScript module (refused)")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        # ('storage', dtype, key, location, numel): the flat storage ROOT/data/<key>, read once
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
            raise DataError(f"'{self._source}' has an unknown storage reference {str(pid)[:60]}")
        _, dtype, key, _location, numel = pid
        if key not in self._storages:
            try:
                raw = bytearray(self._zip.read(f"{self._root}/data/{key}"))
            except KeyError as e:
                raise DataError(f"'{self._source}' lacks the storage data/{key}: truncated archive") from e
            flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            if flat.numel() != int(numel):
                raise DataError(f"'{self._source}': storage data/{key} holds {flat.numel()} values, not {numel}")
            self._storages[key] = flat
        return self._storages[key]


def _walk(obj: ScriptObject, prefix: str, state: dict[str, torch.Tensor], classes: dict[str, str]) -> None:
    classes[prefix.rstrip(".")] = obj.qualname
    for name, value in obj.attrs.items():
        if isinstance(value, torch.Tensor):
            state[prefix + name] = value.clone()  # own memory: not a view into the archive's buffer
        elif isinstance(value, ScriptObject):
            _walk(value, f"{prefix}{name}.", state, classes)


def archive_root(zf: zipfile.ZipFile, source: str) -> str:
    """The archive's top folder (``encoder`` in ``encoder/data.pkl``); a TorchScript archive has
    ``constants.pkl`` and ``code/`` beside ``data.pkl``, a ``torch.save`` zip does not."""
    names = zf.namelist()
    roots = [n[: -len("/data.pkl")] for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(roots) != 1:
        raise DataError(f"'{source}' is a zip without one ROOT/data.pkl: not a TorchScript archive")
    root = roots[0]
    if f"{root}/constants.pkl" not in names or not any(n.startswith(f"{root}/code/") for n in names):
        raise DataError(f"'{source}' is a torch.save checkpoint, not a TorchScript (torch.jit.save) archive")
    return root


def read_torchscript(path: str | Path) -> ScriptArchive:
    """The tensors of the TorchScript file ``path``, by dotted module path, without executing it."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"'{path}' is not a TorchScript archive (not a readable zip file: {e})") from e
    with zf:
        root = archive_root(zf, str(path))
        try:
            with zf.open(f"{root}/data.pkl") as f:
                top = _Unpickler(f, zf, root, str(path)).load()
        except DataError:
            raise
        except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, TypeError, RuntimeError) as e:
            raise DataError(f"cannot read the module pickle of '{path}': {str(e).splitlines()[0]}") from e
    if not isinstance(top, ScriptObject):
        raise DataError(f"'{path}' does not pickle a TorchScript module at its root")
    state: dict[str, torch.Tensor] = {}
    classes: dict[str, str] = {}
    _walk(top, "", state, classes)
    return ScriptArchive(top.qualname, state, classes)

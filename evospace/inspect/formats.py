"""An architecture's model in deployment formats, next to ``model.py``: ONNX and TorchScript.

Both are written from the module :func:`evospace.build_model` builds (the same parameter names as ``model.py``),
in eval mode, with a dynamic batch dimension. ONNX goes through ``torch.onnx.export`` (the ``torch.export``-based
exporter, which needs the ``onnx`` and ``onnxscript`` packages: ``pip install 'evospace[onnx]'``, which also
brings ``onnxruntime`` to run the result); TorchScript through ``torch.jit.trace`` (PyTorch keeps TorchScript in
maintenance; its deprecation warning is silenced here, once the user asked for the format).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from evospace.errors import EvospaceError

__all__ = ["FORMATS", "FILES", "check_formats", "write_formats"]

FORMATS = ("onnx", "torchscript")
FILES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
_ONNX_NEEDS = ("onnx", "onnxscript")


def check_formats(formats: Sequence[str]) -> None:
    """Refuse unknown formats and missing packages before anything is written.

    Raises:
        EvospaceError: one line naming what to install.
    """
    for fmt in formats:
        if fmt not in FORMATS:
            raise EvospaceError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if "onnx" in formats:
        missing = [name for name in _ONNX_NEEDS if importlib.util.find_spec(name) is None]
        if missing:
            raise EvospaceError(f"--onnx needs {' and '.join(missing)}: pip install 'evospace[onnx]' (or "
                                f"pip install -e '.[onnx]' in the repository)")


def write_formats(model: nn.Module, directory: Path, input_shape: tuple[int, ...],
                  formats: Sequence[str]) -> list[Path]:
    """Write ``model`` (an example input of ``input_shape``, batch first) in each format into ``directory``.

    Returns:
        The files written.
    """
    check_formats(formats)
    model = model.eval().cpu()
    example = torch.zeros((2, *input_shape[1:]))
    written = []
    for fmt in formats:
        path = Path(directory) / FILES[fmt]
        _atomic(path, lambda tmp, fmt=fmt: _WRITERS[fmt](model, example, tmp))
        written.append(path)
    return written


def _onnx(model: nn.Module, example: torch.Tensor, path: str) -> None:
    batch = torch.export.Dim("batch")
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the exporter reports every optional registry it skips
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), path, dynamo=True, dynamic_shapes=({0: batch},),
                              input_names=["x"], output_names=["logits"], verbose=False)
    finally:
        quiet.setLevel(level)


def _torchscript(model: nn.Module, example: torch.Tensor, path: str) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model, example)
    traced.save(path)


_WRITERS = {"onnx": _onnx, "torchscript": _torchscript}


def _atomic(path: Path, write) -> None:
    """``write(tmp)`` to a temporary name beside ``path``, fsynced, then renamed: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

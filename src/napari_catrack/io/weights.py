"""PyTorch weight files read as data (`torch.load(weights_only=True)`: no code is ever run), with one
clear reason when a file is not what it should be: never torch's unpickler opcodes, state_dict key
lists, or its advice to load the file with weights_only=False."""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

from napari_catrack.errors import InputError


def read_weights(source: str | os.PathLike | bytes, where: str, what: str) -> Any:
    """What `torch.save` wrote in `source` (a path or the file's bytes), tensors and plain data
    only; `where` names the file and `what` the kind of file expected ("a tracker model")."""
    from napari_catrack.optional import require

    torch = require("torch", f"reading {what}")

    data = io.BytesIO(bytes(source)) if isinstance(source, bytes | bytearray) else source
    try:
        return torch.load(data, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (opcode numbers, IndexError) for a bad file
        if isinstance(data, io.BytesIO):
            data.seek(0)
        pickled = zipfile.is_zipfile(data) and "weights_only" in str(exc)
        reason = (
            "it holds Python objects besides weights, which napari-catrack never loads"
            if pickled
            else "it is not a PyTorch weights file (another kind of file, or a damaged one)"
        )
        raise InputError(f"{where} is not {what}: {reason}") from None


def fit_weights(net: Any, state: Any, where: str) -> None:
    """Load `state` into the torch module `net`, or say in one line how it does not fit."""
    expected = net.state_dict()
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise InputError(f"{where} holds no network weights")
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or reshaped:
        parts = [f"{len(keys)} {word}" for keys, word in ((missing, "missing"),
                 (unexpected, "unexpected"), (reshaped, "of another shape")) if keys]  # fmt: skip
        raise InputError(
            f"{where} has weights that do not fit its config ({', '.join(parts)} of "
            f"{len(expected)} tensors): the weights of another network or model size"
        )
    net.load_state_dict(state)

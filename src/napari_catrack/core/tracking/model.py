"""A small CNN that predicts a neuron's displacement from two patches; saved as data, not pickles.

Input: the previous frame's patch centred on the neuron and the current frame's patch centred on
the predicted position (2 x P x P, each normalised on its own, so bleaching and focus dips do not
matter). Output: where the centre neuron now lies relative to the current patch centre. The CNN
learns to weigh the centre neuron against its neighbours, which plain patch correlation cannot.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from napari_catrack.errors import InputError
from napari_catrack.io.atomic import atomic_write_path, write_text_atomic
from napari_catrack.io.weights import fit_weights, read_weights

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_CONFIG = {"patch": 24, "channels": [8, 16, 32], "hidden": 32}


class TrackerNet(nn.Module):
    """Conv -> pool stack, then a small MLP regressing (dy, dx) in pixels."""

    def __init__(self, patch: int = 24, channels=(16, 32, 64), hidden: int = 64, **meta):
        super().__init__()
        self.config = {"patch": int(patch), "channels": list(channels), "hidden": int(hidden)}
        self.meta = dict(meta)
        layers, c_in = [], 2
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c
        self.features = nn.Sequential(*layers)
        side = patch // 2 ** len(channels)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c_in * side * side, hidden), nn.ReLU(), nn.Linear(hidden, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @staticmethod
    def prepare(prev: np.ndarray, cur: np.ndarray, patch: int) -> torch.Tensor:
        """Centre-crop to `patch`, normalise each patch (mean 0, s.d. 1), stack to (N, 2, P, P)."""
        s = prev.shape[-1]
        o = (s - patch) // 2
        x = np.stack(
            [prev[:, o : o + patch, o : o + patch], cur[:, o : o + patch, o : o + patch]], 1
        )
        x = x.astype(np.float32)
        x -= x.mean(axis=(2, 3), keepdims=True)
        x /= x.std(axis=(2, 3), keepdims=True) + 1e-3
        return torch.from_numpy(x)

    def refiner(self):
        """A tracker refiner: (prev, cur) patch stacks -> ((N, 2) shifts, (N,) quality)."""
        self.eval()
        patch = self.config["patch"]

        def refine(prev: np.ndarray, cur: np.ndarray):
            if prev.shape[-1] < patch:
                raise InputError(f"tracker patches ({prev.shape[-1]} px) smaller than the model's")
            n_threads = torch.get_num_threads()
            torch.set_num_threads(1)  # tiny batches: extra threads only spin against numpy
            try:
                with torch.inference_mode():
                    out = self(self.prepare(prev, cur, patch)).numpy().astype(np.float64)
            finally:
                torch.set_num_threads(n_threads)
            # patches are centred on rounded positions: centre index = size // 2, same in both
            return out, np.ones(len(out))

        return refine


def save_model(model: TrackerNet, directory: str | os.PathLike, name: str = "tracker") -> Path:
    """Write `<name>.pt` (state_dict only) and `<name>.json` (config + provenance) atomically."""
    d = Path(directory)
    pt, js = d / f"{name}.pt", d / f"{name}.json"
    with atomic_write_path(pt) as tmp:
        torch.save(model.state_dict(), tmp)
    write_text_atomic(js, json.dumps({**model.config, "meta": model.meta}, indent=2))
    return pt


def load_model(directory: str | os.PathLike, name: str = "tracker") -> TrackerNet:
    """Rebuild a TrackerNet from JSON config + state_dict (`torch.load(weights_only=True)`)."""
    d = Path(directory)
    pt, js = d / f"{name}.pt", d / f"{name}.json"
    if not pt.exists() or not js.exists():
        raise InputError(f"no tracker model in {d} (need {name}.json and {name}.pt)")
    try:
        cfg = json.loads(js.read_text(encoding="utf-8-sig"))
        meta = cfg.pop("meta", {})
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError) as exc:
        raise InputError(f"{js} is not a tracker config (JSON): {exc}") from None
    try:
        net = TrackerNet(**cfg, **meta)
    except (RuntimeError, TypeError, KeyError, ValueError) as exc:
        raise InputError(f"{js} is not a usable tracker config: {exc}") from None
    fit_weights(net, read_weights(pt, str(pt), "a tracker model's weights"), str(pt))
    net.eval()
    return net


@lru_cache(maxsize=1)
def default_model() -> TrackerNet | None:
    """The weights shipped with the package, or None when they are absent."""
    try:
        return load_model(MODELS_DIR)
    except InputError:
        return None

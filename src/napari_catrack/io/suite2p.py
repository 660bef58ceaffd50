"""Read a suite2p output folder (the old layout and suite2p 1.x) as sources.

suite2p writes, per plane, `plane0/`: `stat.npy` (one dict per ROI: `ypix`, `xpix`, `lam`, ...),
`F.npy` and `Fneu.npy` (ROI and neuropil fluorescence, ROIs x frames), `spks.npy` (deconvolved),
`iscell.npy` ((ROIs, 2): the classifier's verdict and probability), and the run's options:
`ops.npy` in both layouts (suite2p 1.x keeps it as "ops orig" and adds `db.npy` and
`settings.npy`, where the frame rate and the neuropil coefficient moved). The raw trace is
F - neucoeff * Fneu, as suite2p computes it before deconvolution; dF/F is relative to the
ROI's baseline plus the subtracted neuropil.

`stat.npy` and `ops.npy` are pickled object arrays: open only output folders you trust.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from napari_catrack.core.sources.imported import imported_result
from napari_catrack.errors import InputError

REQUIRED = ("stat.npy", "F.npy", "iscell.npy")


def find_plane(path: str | os.PathLike, plane: int = 0) -> Path:
    """The plane folder under a suite2p output (PATH, PATH/planeN, PATH/suite2p/planeN)."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path} is not a folder: give the suite2p output folder (with plane0/)")
    for cand in (path, path / f"plane{plane}", path / "suite2p" / f"plane{plane}"):
        if (cand / "stat.npy").is_file():
            return cand
    raise InputError(
        f"{path} is not a suite2p output folder: no stat.npy in it, in plane{plane}/ or in "
        f"suite2p/plane{plane}/"
    )


def _load(folder: Path, name: str, pickled: bool = False):
    path = folder / name
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
        if magic == b"\x93NUMPY":
            return np.load(path, allow_pickle=pickled)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, ImportError, AttributeError) as exc:  # fmt: skip
        raise InputError(f"cannot read {path}: {exc}") from None
    raise InputError(f"{path} is not a NumPy .npy file: damaged, or not written by suite2p?")


def _options(folder: Path) -> dict:
    """fs, Ly, Lx and neucoeff from ops.npy, or from db.npy + settings.npy (suite2p 1.x)."""
    out: dict = {}
    for name in ("ops.npy", "db.npy", "settings.npy"):
        if (folder / name).is_file():
            d = _load(folder, name, pickled=True)
            if isinstance(d, np.ndarray) and d.dtype.kind == "O" and d.shape == ():
                d = d.item()
            if isinstance(d, dict):
                for key in ("fs", "Ly", "Lx", "neucoeff"):
                    out.setdefault(key, d.get(key))
                extraction = d.get("extraction")
                if isinstance(extraction, dict):
                    out.setdefault("neucoeff", extraction.get("neuropil_coefficient"))
    return {k: v for k, v in out.items() if v is not None}


def read_suite2p(path: str | os.PathLike, *, plane: int = 0, fps: float | None = None):
    """A `SourcesResult` from a suite2p output folder."""
    folder = find_plane(path, plane)
    missing = [n for n in REQUIRED if not (folder / n).is_file()]
    if missing:
        raise InputError(f"{folder} lacks {', '.join(missing)}: an incomplete suite2p output")
    stat = _load(folder, "stat.npy", pickled=True)
    if np.ndim(stat) != 1 or not all(isinstance(s, dict) for s in stat):
        raise InputError(f"{folder}/stat.npy is not suite2p's list of ROIs (one dict per ROI)")
    F = np.atleast_2d(_load(folder, "F.npy"))
    iscell = np.atleast_2d(_load(folder, "iscell.npy"))
    k = len(stat)
    if F.shape[0] != k or iscell.shape[0] != k:
        raise InputError(
            f"{folder}: stat.npy has {k} ROIs but F.npy {F.shape[0]} and iscell.npy "
            f"{iscell.shape[0]} rows: files from different runs?"
        )
    opts = _options(folder)
    fneu = np.atleast_2d(_load(folder, "Fneu.npy")) if (folder / "Fneu.npy").is_file() else np.zeros_like(F)  # fmt: skip
    spks = np.atleast_2d(_load(folder, "spks.npy")) if (folder / "spks.npy").is_file() else None
    coeff = float(opts.get("neucoeff", 0.7))
    ly = int(opts.get("Ly") or max(int(np.max(s["ypix"])) for s in stat) + 1)
    lx = int(opts.get("Lx") or max(int(np.max(s["xpix"])) for s in stat) + 1)
    fp = np.zeros((k, ly, lx), np.float32)
    for i, s in enumerate(stat):
        try:
            fp[i, np.asarray(s["ypix"], int), np.asarray(s["xpix"], int)] = np.asarray(s["lam"], np.float32)  # fmt: skip
        except (KeyError, IndexError, TypeError) as exc:
            raise InputError(f"{folder}/stat.npy ROI {i} is not a suite2p ROI ({exc})") from None
    rate = fps or opts.get("fs")
    if not rate:
        raise InputError("the suite2p output has no frame rate (fs): give it (--fps)")
    return imported_result(
        "suite2p", fp, F - coeff * fneu, fps=float(rate), ids=np.arange(k), spikes=spks,
        background=coeff * fneu, accepted=iscell[:, 0] > 0.5,
    )  # fmt: skip

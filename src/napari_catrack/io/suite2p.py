"""Read a suite2p output folder (the old layout and suite2p 1.x) as sources.

suite2p writes, per plane, `plane0/`: `stat.npy` (one dict per ROI: `ypix`, `xpix`, `lam`, ...),
`F.npy` and `Fneu.npy` (ROI and neuropil fluorescence, ROIs x frames), `spks.npy` (deconvolved),
`iscell.npy` ((ROIs, 2): the classifier's verdict and probability), and the run's options:
`ops.npy` in both layouts (suite2p 1.x keeps it as "ops orig" and adds `db.npy` and
`settings.npy`, where the frame rate and the neuropil coefficient moved). The raw trace is
F - neucoeff * Fneu, as suite2p computes it before deconvolution; dF/F is relative to the
ROI's baseline plus the subtracted neuropil. Each of fs, Ly, Lx and the coefficient is taken
from the first file that has it (`_options`); the result's `notes` say which were used.

Multi-plane outputs have plane0/, plane1/, ...: `plane=N` picks one; without it the folder
given (when it is a plane folder) or the lowest plane is read, and a warning names the others.

`stat.npy` and `ops.npy` are pickled object arrays: open only output folders you trust.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from napari_catrack.core.sources.footprints import Footprints
from napari_catrack.core.sources.imported import imported_result
from napari_catrack.errors import InputError

REQUIRED = ("stat.npy", "F.npy", "iscell.npy")


def _planes(root: Path) -> dict[int, Path]:
    """planeN folders (with stat.npy) under a suite2p output folder, by N."""
    out = {}
    if root.is_dir():
        for sub in root.iterdir():
            if sub.name.startswith("plane") and sub.name[5:].isdigit() and (sub / "stat.npy").is_file():  # fmt: skip
                out[int(sub.name[5:])] = sub
    return dict(sorted(out.items()))


def find_plane(path: str | os.PathLike, plane: int | None = 0, notes: list[str] | None = None) -> Path:  # fmt: skip
    """The plane folder under a suite2p output (PATH, PATH/planeN, PATH/suite2p/planeN).

    `plane=None`: PATH itself when it is a plane folder, else the lowest plane (plane0), with a
    line in `notes` when the output has other planes (how to choose one)."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path} is not a folder: give the suite2p output folder (with plane0/)")
    if (path / "stat.npy").is_file():
        own = path.name[5:] if path.name.startswith("plane") else ""
        if plane is not None and own.isdigit() and int(own) != plane:
            raise InputError(
                f"{path} is plane {int(own)}'s folder but plane {plane} was asked for: give the "
                f"suite2p folder that holds the plane folders"
            )
        return path
    for root in (path, path / "suite2p"):
        planes = _planes(root)
        if not planes:
            continue
        if plane is None:
            plane = next(iter(planes))
            if len(planes) > 1 and notes is not None:
                notes.append(
                    f"this suite2p output has {len(planes)} planes "
                    f"({', '.join(map(str, planes))}): plane {plane} was imported; choose "
                    f"another with --plane N (in the widget: open its planeN folder)"
                )
        if plane not in planes:
            raise InputError(
                f"{root} has no plane{plane} with stat.npy: its planes are "
                f"{', '.join(map(str, planes))}"
            )
        return planes[plane]
    where = "plane0" if plane is None else f"plane{plane}"
    raise InputError(
        f"{path} is not a suite2p output folder: no stat.npy in it, in {where}/ or in "
        f"suite2p/{where}/"
    )


def _load(folder: Path, name: str, pickled: bool = False):
    path = folder / name
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
        if magic == b"\x93NUMPY":
            return np.load(path, allow_pickle=pickled)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, ImportError, AttributeError) as exc:  # fmt: skip
        hint = ""
        if "numpy._core" in str(exc):  # pickled under NumPy 2 (suite2p 1.x), read by NumPy 1
            hint = f" (saved with NumPy 2; this is NumPy {np.__version__}: pip install 'numpy>=2')"
        raise InputError(f"cannot read {path}: {exc}{hint}") from None
    raise InputError(f"{path} is not a NumPy .npy file: damaged, or not written by suite2p?")


def _options(folder: Path) -> dict:
    """fs, Ly, Lx and the neuropil coefficient, each as (value, where it was found).

    The old layout keeps them in ops.npy (`neucoeff`); suite2p 1.x in settings.npy (`fs`,
    `extraction.neuropil_coefficient`) and db.npy (`Ly`, `Lx`), with ops.npy = {**db,
    **settings, ...} written beside them unless `save_ops_orig` is off. Each key comes from the
    first file that has it (ops.npy, settings.npy, db.npy): a file without it never hides it."""
    out: dict = {}
    for name in ("ops.npy", "settings.npy", "db.npy"):
        if not (folder / name).is_file():
            continue
        d = _load(folder, name, pickled=True)
        if isinstance(d, np.ndarray) and d.dtype.kind == "O" and d.shape == ():
            d = d.item()
        if not isinstance(d, dict):
            continue
        found = {key: (d.get(key), name) for key in ("fs", "Ly", "Lx")}
        extraction = d.get("extraction")
        if isinstance(extraction, dict) and extraction.get("neuropil_coefficient") is not None:
            found["neucoeff"] = (extraction["neuropil_coefficient"], f"{name} extraction.neuropil_coefficient")  # fmt: skip
        else:
            found["neucoeff"] = (d.get("neucoeff"), f"{name} neucoeff")
        for key, (value, where) in found.items():
            number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)  # fmt: skip
            if number and np.isfinite(value) and key not in out:
                out[key] = (value, where)
    return out


def _rows(folder: Path, name: str, arr: np.ndarray, k: int, t: int | None) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[0] != k or (t is not None and arr.shape[1] != t):
        want = f"({k}, {t})" if t is not None else f"({k} ROIs, frames)"
        raise InputError(
            f"{folder}: {name} is {arr.shape} but stat.npy has {k} ROIs"
            + (f" and F.npy {t} frames" if t is not None else "")
            + f" (expected {want}): files from different runs?"
        )
    return arr


def read_suite2p(path: str | os.PathLike, *, plane: int | None = None, fps: float | None = None):
    """A `SourcesResult` from a suite2p output folder (`plane=None`: the folder given, or plane0
    with a note naming the other planes)."""
    notes: list[str] = []
    warnings: list[str] = []
    folder = find_plane(path, plane, warnings)
    missing = [n for n in REQUIRED if not (folder / n).is_file()]
    if missing:
        raise InputError(f"{folder} lacks {', '.join(missing)}: an incomplete suite2p output")
    stat = _load(folder, "stat.npy", pickled=True)
    if np.ndim(stat) != 1 or not all(isinstance(s, dict) for s in stat):
        raise InputError(f"{folder}/stat.npy is not suite2p's list of ROIs (one dict per ROI)")
    k = len(stat)
    F = _rows(folder, "F.npy", np.atleast_2d(_load(folder, "F.npy")), k, None)
    t = F.shape[1]
    iscell = np.asarray(_load(folder, "iscell.npy"))
    if iscell.ndim != 2 or iscell.shape[1] < 2:
        raise InputError(
            f"{folder}: iscell.npy is {iscell.shape}; it should be (ROIs, 2), the verdict and "
            f"the probability, as suite2p writes and reads it"
        )
    if iscell.shape[0] != k:
        raise InputError(
            f"{folder}: stat.npy has {k} ROIs but iscell.npy {iscell.shape[0]} rows: files "
            f"from different runs?"
        )
    fneu = _rows(folder, "Fneu.npy", _load(folder, "Fneu.npy"), k, t) if (folder / "Fneu.npy").is_file() else np.zeros_like(F)  # fmt: skip
    spks = _rows(folder, "spks.npy", _load(folder, "spks.npy"), k, t) if (folder / "spks.npy").is_file() else None  # fmt: skip
    if spks is None:
        notes.append("no spks.npy: the spikes column is empty")
    opts = _options(folder)
    if not (folder / "Fneu.npy").is_file():  # raw = F: saying "F - 0.7 * Fneu" would be false
        coeff = 0.0
        warnings.append(f"{folder} has no Fneu.npy: raw = F, no neuropil subtracted")
    elif "neucoeff" in opts:
        coeff = float(opts["neucoeff"][0])
        notes.append(f"raw = F - {coeff:g} * Fneu (neuropil coefficient from {opts['neucoeff'][1]})")  # fmt: skip
    else:
        coeff = 0.7
        warnings.append(
            "no neuropil coefficient in ops.npy or settings.npy: raw = F - 0.7 * Fneu "
            "(suite2p's default)"
        )
    shape = {}
    for key, axis in (("Ly", "ypix"), ("Lx", "xpix")):
        if key in opts:
            shape[key] = int(opts[key][0])
        else:
            shape[key] = max((int(np.max(s[axis])) for s in stat if np.size(s.get(axis, []))), default=0) + 1  # fmt: skip
    ly, lx = shape["Ly"], shape["Lx"]
    rows, values = [], []  # each ROI's flat pixel indices and weights: sparse footprints
    for i, s in enumerate(stat):
        try:
            ypix, xpix = np.asarray(s["ypix"], int), np.asarray(s["xpix"], int)
            lam = np.asarray(s["lam"], np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{folder}/stat.npy ROI {i} is not a suite2p ROI ({exc})") from None
        if ypix.size and min(ypix.min(), xpix.min()) < 0:
            raise InputError(f"{folder}/stat.npy ROI {i} is not a suite2p ROI (negative pixel coordinates)")  # fmt: skip
        if ypix.size and (ypix.max() >= ly or xpix.max() >= lx):
            src = " and ".join(sorted({opts[key][1] for key in ("Ly", "Lx") if key in opts})) or "stat.npy"  # fmt: skip
            raise InputError(
                f"{folder}: stat.npy ROI {i} has pixels up to row {ypix.max()}, column "
                f"{xpix.max()}, outside the {ly} x {lx} frame of {src}: ops and stat come from "
                f"different runs?"
            )
        try:
            flat = np.ravel_multi_index((ypix, xpix), (ly, lx)).ravel()
            lam = np.broadcast_to(lam, np.shape(ypix)).ravel()
        except (IndexError, ValueError) as exc:
            raise InputError(f"{folder}/stat.npy ROI {i} is not a suite2p ROI ({exc})") from None
        # a pixel listed twice keeps its last weight (as a dense assignment did)
        flat_sorted, last = np.unique(flat[::-1], return_index=True)
        rows.append(flat_sorted)
        values.append(lam[::-1][last])
    fp = Footprints.from_pixels(rows, (ly, lx), values)
    stored = float(opts["fs"][0]) if "fs" in opts else None
    if fps:
        if stored and abs(stored - fps) > 1e-6 * fps:
            warnings.append(f"frame rate {fps:g} Hz given, but {opts['fs'][1]} says {stored:g} Hz: {fps:g} Hz used")  # fmt: skip
        notes.append(f"fs {fps:g} Hz (given)")
    elif stored:
        notes.append(f"fs {stored:g} Hz (from {opts['fs'][1]})")
    else:
        raise InputError("the suite2p output has no frame rate (fs): give it (--fps)")
    return imported_result(
        "suite2p", fp, F - coeff * fneu, fps=float(fps or stored), ids=np.arange(k), spikes=spks,
        background=coeff * fneu, accepted=iscell[:, 0] > 0.5, notes=notes, warnings=warnings, tool_fps=stored,
    )  # fmt: skip

"""Read a suite2p output folder (the old layout and suite2p 1.x) as sources.

suite2p writes, per plane, `plane0/`: `stat.npy` (one dict per ROI: `ypix`, `xpix`, `lam`, ...),
`F.npy` and `Fneu.npy` (ROI and neuropil fluorescence, ROIs x frames), `spks.npy` (deconvolved),
`iscell.npy` ((ROIs, 2): the classifier's verdict, the import's `accepted`, and its
probability, kept as the column `tool_probability`), and the run's options:
`ops.npy` in both layouts (suite2p 1.x keeps it as "ops orig" and adds `db.npy` and
`settings.npy`, where the frame rate and the neuropil coefficient moved). The raw trace is
F - neucoeff * Fneu, as suite2p computes it before deconvolution; dF/F is relative to the
ROI's baseline plus the subtracted neuropil. Each of fs, Ly, Lx and the coefficient is taken
from the first file that has it (`_options`); the result's `notes` say which were used.

Multi-plane outputs have plane0/, plane1/, ...: all planes are read as one result by default
(`plane="all"`), each ROI with its `plane` and `plane_roi` (its row in planeN's files); ids run
through the planes in order, as the rows of suite2p's own combined/ output. `plane=N` reads one
plane; a plane folder given is read alone. combined/ itself is never read (`plane_folders`).

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


def _dicts(folder: Path) -> list[tuple[str, dict]]:
    """(file name, dict) of the option files a plane folder (or suite2p's top folder) holds:
    ops.npy, settings.npy, db.npy, in that order (pickled dicts; absent ones left out)."""
    out = []
    for name in ("ops.npy", "settings.npy", "db.npy"):
        if not (folder / name).is_file():
            continue
        d = _load(folder, name, pickled=True)
        if isinstance(d, np.ndarray) and d.dtype.kind == "O" and d.shape == ():
            d = d.item()
        if isinstance(d, dict):
            out.append((name, d))
    return out


def _first(dicts: list[tuple[str, dict]], key: str):
    """(value, file) of the first option file whose `key` is set (not None / empty), else None."""
    for name, d in dicts:
        value = d.get(key)
        if value is not None and not (isinstance(value, str | list | tuple | np.ndarray) and np.size(value) == 0):  # fmt: skip
            return value, name
    return None


def _options(folder: Path) -> dict:
    """fs, Ly, Lx and the neuropil coefficient, each as (value, where it was found).

    The old layout keeps them in ops.npy (`neucoeff`); suite2p 1.x in settings.npy (`fs`,
    `extraction.neuropil_coefficient`) and db.npy (`Ly`, `Lx`), with ops.npy = {**db,
    **settings, ...} written beside them unless `save_ops_orig` is off. Each key comes from the
    first file that has it (ops.npy, settings.npy, db.npy): a file without it never hides it."""
    out: dict = {}
    for name, d in _dicts(folder):
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


def read_suite2p(
    path: str | os.PathLike,
    *,
    plane: int | str | None = None,
    fps: float | None = None,
    plane_offsets: bool = True,
    baseline_window_s: float | None = None,
):
    """A `SourcesResult` from a suite2p output folder (`baseline_window_s`: the dF/F
    baseline's window, None: `SourcesParams`' default; see `imported_result`).

    `plane=None` (the default) or "all": the folder given when it is a plane folder, else every
    plane of the output (one plane: as before); `plane=N`: that plane only. Several planes are
    one result (`_combine`): ids run through the planes in order (suite2p's combined/ order),
    with columns `plane` and `plane_roi` (the row in planeN/stat.npy). A plane read alone keeps
    the id it has among all planes (ids never depend on what else was read), and suite2p's
    flyback planes (`ignore_flyback`) are never counted. `plane_offsets`: each plane's samples
    are timed p / (planes per volume x fs) after plane 0's (`_plane_times`)."""
    said: list[str] = []  # how the folder was read (combined/ left out)
    warned: list[str] = []  # plane folders left out (no stat.npy, flyback)
    folders = plane_folders(path, plane, said, warned)
    # a lone plane's option files are named from the folder given (plane0/ops.npy), as the
    # planes of a multi-plane import are (`_combine`)
    where = _relative(next(iter(folders.values())), Path(path)) if len(folders) == 1 else ""
    read = [_read_plane(folder, where) for folder in folders.values()]
    layout = _layout(next(iter(folders.values())))
    numbers = [0 if p is None else p for p in folders]  # a lone folder: a single-plane output
    first = _first_ids(layout, numbers)
    ids = np.concatenate([f + np.arange(r["k"]) for f, r in zip(first, read, strict=True)]).astype(np.int64)  # fmt: skip
    if len(read) == 1:
        result = _result(read[0]["stat_shape"], read, fps, warned, ids, baseline_window_s)
    else:
        result = _combine(folders, read, fps, warned, ids, baseline_window_s)
    result.components["plane"] = np.repeat(numbers, [r["k"] for r in read]).astype(np.int64)
    result.components["plane_roi"] = np.concatenate([np.arange(r["k"]) for r in read]).astype(np.int64)  # fmt: skip
    # suite2p's classifier probability (iscell column 1; h22: was dropped), beside its verdict
    result.components["tool_probability"] = np.concatenate([r["prob"] for r in read])
    if layout["mesoscope"]:
        result.warnings.append(layout["mesoscope"])
    _red_cells(result, numbers, read)
    _red_traces(result, numbers, read)
    _plane_times(result, numbers, layout, plane_offsets)
    asked = "all" if plane is None or plane == "all" else int(plane)
    if plane is None and len(folders) == 1 and _plane_number(Path(path)) is not None:
        asked = numbers[0]  # a planeN folder given: that plane, as --plane N (the provenance)
    result.made_with.update(plane=asked, plane_offsets=bool(plane_offsets))
    result.notes[:0] = said
    return result


def _layout(folder: Path) -> dict:
    """How the recording was acquired, from the plane folder's options and suite2p's top folder:
    `root` (the folder of the planeN folders; None for a lone folder), `flyback` (planes listed
    in `ignore_flyback`: suite2p runs nothing there and its combined view leaves them out),
    `n_planes` ((value, where) of `nplanes`, the planes per volume flyback included),
    `mesoscope` (a line saying what a ScanImage multi-ROI layout is imported as, or None) and
    `bidirectional` (Bruker's 0, 1, 2, 2, 1, 0 plane order)."""
    root = folder.parent if _plane_number(folder) is not None and _plane_dirs(folder.parent) else None  # fmt: skip
    dicts = _dicts(folder)
    top = _dicts(root) if root is not None else []
    flyback, where = set(), None
    for at, options in ((root, top), (folder, dicts)):  # suite2p 1.x: the top db.npy
        found = _first(options, "ignore_flyback")
        if found is not None:
            try:
                values = [float(v) for v in np.atleast_1d(np.asarray(found[0], dtype=object)).ravel()]  # fmt: skip
            except (TypeError, ValueError):
                raise InputError(f"{at}/{found[1]}: ignore_flyback is {found[0]!r}, not a list of plane numbers") from None  # fmt: skip
            flyback = {int(v) for v in values if np.isfinite(v) and v >= 0}  # -1: none
            where = f"{at.name}/{found[1]}"
            break
    n_planes = _first(dicts, "nplanes") or _first(top, "nplanes")
    nrois = _first(dicts, "nrois") or _first(top, "nrois")
    lines = _first(dicts, "lines")
    n_rois = int(nrois[0]) if nrois is not None and np.ndim(nrois[0]) == 0 else 1
    mesoscope = None
    if lines is not None or n_rois > 1:
        n_dirs = len(_plane_dirs(root)) if root is not None else 1
        depth = f" x {max(1, n_dirs // n_rois)} plane(s)" if n_rois > 1 else ""
        mesoscope = (
            f"mesoscope layout ({n_rois} ScanImage ROI(s){depth} in {n_dirs} plane folder(s), "
            f"ops lines/dy/dx): each folder was imported as a plane of its own, on its own frame "
            f"('plane' = its folder number); not stitched at its dy/dx position, not split into "
            f"ROI and depth, no per-plane time offsets (a frame's ROIs are scanned one after "
            f"another)"
        )
    bidirectional = bool((_first(dicts, "bruker_bidirectional") or (False,))[0])
    return {"root": root, "flyback": flyback, "flyback_where": where, "n_planes": n_planes,
            "mesoscope": mesoscope, "bidirectional": bidirectional}  # fmt: skip


def _count(folder: Path) -> int:
    """ROIs of a plane folder without reading its stat.npy: iscell.npy's rows (else F.npy's)."""
    for name in ("iscell.npy", "F.npy"):
        if (folder / name).is_file():
            try:
                arr = np.load(folder / name, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read {folder / name} to count its ROIs (the later planes' ids run through it): {exc}") from None  # fmt: skip
            return int(arr.shape[0]) if arr.ndim else 0
    raise InputError(
        f"{folder} lacks iscell.npy and F.npy: its ROIs cannot be counted, so the later planes' "
        f"ids (which run through the planes) are unknown; read every plane (--plane all)"
    )


def _first_ids(layout: dict, numbers: list[int]) -> list[int]:
    """The id of each read plane's first ROI: the ROIs of the planes before it in the output
    (with stat.npy, not flyback), so a plane read alone has the ids it has among all planes."""
    root = layout["root"]
    if root is None:
        return [0] * len(numbers)
    counted = {n: f for n, f in _planes(root).items() if n not in layout["flyback"]}
    out, done = [], {}
    for n in numbers:
        out.append(sum(done.setdefault(q, _count(f)) for q, f in counted.items() if q < n))
    return out


def _red_cells(result, numbers: list[int], read: list[dict]) -> None:
    """suite2p's red-channel verdict (redcell.npy: [is red, probability] per ROI) as columns
    `red_cell` and `red_prob`; without any redcell.npy no column. Planes without one, when
    others have it, get NaN (a warning names them): a missing verdict is not "not red"."""
    have = [r["red"] is not None for r in read]
    if not any(have):
        return
    if all(have):
        result.components["red_cell"] = np.concatenate([r["red"][0] for r in read]).astype(bool)
    else:
        result.components["red_cell"] = np.concatenate([r["red"][0].astype(float) if r["red"] is not None else np.full(r["k"], np.nan) for r in read])  # fmt: skip
        missing = [f"plane{p}" for p, h in zip(numbers, have, strict=True) if not h]
        result.warnings.append(f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no redcell.npy: red_cell and red_prob are empty (NaN) for {'its' if len(missing) == 1 else 'their'} cells")  # fmt: skip
    result.components["red_prob"] = np.concatenate([r["red"][1] if r["red"] is not None else np.full(r["k"], np.nan) for r in read]).astype(float)  # fmt: skip
    n_red = int(np.nansum(result.components["red_cell"].to_numpy(float)))
    result.notes.append(f"redcell.npy: {n_red} of {len(result.components)} ROIs red (red_cell, red_prob)")  # fmt: skip


def _red_traces(result, numbers: list[int], read: list[dict]) -> None:
    """The red channel's traces of a two-channel run (F_chan2.npy, Fneu_chan2.npy): `red` =
    F_chan2 - coefficient x Fneu_chan2 (the plane's neuropil coefficient, as raw), kept as the
    traces' red, red_raw and red_bg columns; no ratio is made of them (dff stays the green
    channel's). Planes without F_chan2.npy, when others have it, get NaN (a warning names them)."""
    have = [r["chan2"] is not None for r in read]
    if not any(have):
        return
    t = result.raw.shape[1]
    red = [r["chan2"][0][:, :t] if r["chan2"] is not None else np.full((r["k"], t), np.nan) for r in read]  # fmt: skip
    bg = [r["chan2"][1][:, :t] if r["chan2"] is not None else np.full((r["k"], t), np.nan) for r in read]  # fmt: skip
    result.red = np.concatenate(red).astype(float)
    result.red_background = np.concatenate(bg).astype(float)
    if not all(have):
        missing = [f"plane{p}" for p, h in zip(numbers, have, strict=True) if not h]
        result.warnings.append(f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no F_chan2.npy: the red traces are empty (NaN) for {'its' if len(missing) == 1 else 'their'} cells")  # fmt: skip
    result.notes.append("F_chan2.npy: the red channel's traces are the red, red_raw and red_bg columns (red = F_chan2 - coefficient x Fneu_chan2; no ratio made, dff is green's)")  # fmt: skip


def _plane_times(result, numbers: list[int], layout: dict, on: bool) -> None:
    """Plane p of an n-plane volume is imaged p / (n x fs) after plane 0 (fs: suite2p's rate per
    plane, the volume rate; n: ops `nplanes`, flyback planes included, as they take their time):
    column `time_offset_s`, which moves each cell's `time_s` (`SourcesResult.traces_table`).
    Not set (a line says why) where the order of the planes in time is not that: a mesoscope's
    ROIs, Bruker's bidirectional stacks (0, 1, 2, 2, 1, 0), or fewer `nplanes` than folders."""
    n = layout["n_planes"]
    root = layout["root"]
    several = root is not None and len(_plane_dirs(root)) > 1
    if not several and (n is None or int(n[0]) <= 1):
        return  # one plane: the volume's clock is the plane's
    if root is None:
        result.warnings.append(f"{n[1]} says nplanes {int(n[0])} but this folder is not named planeN: its plane is unknown, so no per-plane time offset")  # fmt: skip
        return
    if not on:
        result.notes.append("no per-plane time offsets (--no-plane-offsets): every plane's samples at frame / fs")  # fmt: skip
        return
    why = None
    if layout["mesoscope"]:
        return  # said in the mesoscope line
    if layout["bidirectional"]:
        why = "ops bruker_bidirectional: the planes' order alternates from volume to volume"
    dirs = _plane_dirs(root) if root is not None else [max(numbers)]
    if why is None and n is not None and int(n[0]) <= max(dirs):
        why = f"{n[1]} says nplanes {int(n[0])} but there are plane folders up to plane{max(dirs)}"  # fmt: skip
    if why is not None:
        result.warnings.append(f"no per-plane time offsets ({why}): every plane's samples at frame / fs")  # fmt: skip
        return
    count = int(n[0]) if n is not None else max(dirs) + 1
    source = f"{n[1]} nplanes" if n is not None else "the plane folders, no nplanes in ops"
    offsets = np.asarray(result.components["plane"], float) / (count * result.fps)
    result.components["time_offset_s"] = offsets
    shown = ", ".join(f"plane {p}: {1e3 * p / (count * result.fps):.4g} ms" for p in sorted(set(numbers)))  # fmt: skip
    result.notes.append(
        f"plane p's samples are timed p / ({count} planes x {result.fps:g} Hz) after plane 0's "
        # the option named as the command's: the Sources widget shows the same line, and has
        # no such control (h17 walk)
        f"({source}; {shown}; time_s follows; the command line's catrack import suite2p "
        "--no-plane-offsets times every plane at frame / fs)"
    )


def plane_folders(path: str | os.PathLike, plane: int | str | None, notes: list[str], warnings: list[str] | None = None) -> dict[int | None, Path]:  # fmt: skip
    """{plane number: folder} to read (`plane`: N, "all" or None; see `read_suite2p`). A
    `combined/` folder (suite2p's re-tiled view of every plane) is never read: its ROIs are the
    planes' own, moved into a mosaic that matches no movie; the planes are read instead. Plane
    folders without stat.npy (suite2p found no ROI there, or stopped before detection) cannot
    be read: a line in `warnings` names them, so a plane never goes missing unsaid."""
    path = Path(path)
    if isinstance(plane, str):
        if plane.strip().lower() != "all" and not plane.strip().isdigit():
            raise InputError(f"--plane must be a plane number (0, 1, ...) or 'all', got {plane!r}")
        plane = None if plane.strip().lower() == "all" else int(plane)
    if path.name == "combined" and _planes(path.parent):
        notes.append(
            f"{path} is suite2p's combined view (planes re-tiled into one mosaic): the planes "
            f"were read from {path.parent} instead"
        )
        path = path.parent
    if plane is not None or (path / "stat.npy").is_file():
        found = find_plane(path, plane)
        layout = _layout(found)
        if _plane_number(found) in layout["flyback"]:
            raise InputError(
                f"plane {_plane_number(found)} is a flyback plane (ignore_flyback in "
                f"{layout['flyback_where']}): suite2p leaves it out; choose another plane"
            )
        return {_plane_number(found): found}
    for root in (path, path / "suite2p"):
        planes = _planes(root)
        if planes:
            layout = _layout(next(iter(planes.values())))
            fly = sorted(layout["flyback"] & set(_plane_dirs(root)))
            if fly and warnings is not None:
                kept = [f"plane{n}" for n in fly if n in planes]
                warnings.append(
                    f"flyback plane(s) {', '.join(map(str, fly))} (ignore_flyback in "
                    f"{layout['flyback_where']}): not imported"
                    + (f", though {', '.join(kept)} {'has' if len(kept) == 1 else 'have'} stat.npy (suite2p's combined view leaves {'it' if len(kept) == 1 else 'them'} out too)" if kept else "")
                )  # fmt: skip
            planes = {n: f for n, f in planes.items() if n not in layout["flyback"]}
            if not planes:
                raise InputError(f"{root}: every plane with stat.npy is a flyback plane (ignore_flyback in {layout['flyback_where']}): nothing to import")  # fmt: skip
            empty = [f"plane{n}" for n in _plane_dirs(root) if n not in planes and n not in layout["flyback"]]  # fmt: skip
            if empty and warnings is not None:
                warnings.append(
                    f"{', '.join(empty)} {'has' if len(empty) == 1 else 'have'} no stat.npy (no "
                    f"ROI found there, or suite2p stopped before detection): not imported"
                )
            if (root / "combined").is_dir() and len(planes) > 1:
                notes.append(
                    "combined/ not read (suite2p's re-tiled mosaic of the same ROIs): each "
                    "plane was read from its own folder"
                )
            return planes
    return {None: find_plane(path, None)}  # raises: no plane folder


def _plane_dirs(root: Path) -> list[int]:
    """The N of every planeN folder under `root`, with stat.npy or not."""
    return sorted(int(p.name[5:]) for p in root.iterdir() if p.is_dir() and p.name.startswith("plane") and p.name[5:].isdigit())  # fmt: skip


def _plane_number(folder: Path) -> int | None:
    return int(folder.name[5:]) if folder.name.startswith("plane") and folder.name[5:].isdigit() else None  # fmt: skip


def _relative(folder: Path, given: Path) -> str:
    """The prefix naming a file of `folder` from the folder the user gave ("plane0/",
    "suite2p/plane0/"; "" when it is that folder; from its parent for a combined/ given)."""
    for root in (given, given.parent):
        try:
            rel = folder.relative_to(root).as_posix()
        except ValueError:
            continue
        return "" if rel == "." else f"{rel}/"
    return f"{folder}/"


def _read_plane(folder: Path, where: str = "") -> dict:
    """One plane folder's ROIs and traces, checked: pixels (ypix, xpix, lam per ROI), raw =
    F - coefficient * Fneu, the background subtracted, spks (None without spks.npy), iscell's
    verdict, the options found, and how they were read (notes, warnings; an option file is
    named `where` + its name there, e.g. plane0/ops.npy)."""
    notes: list[str] = []
    warnings: list[str] = []
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
        notes.append(f"raw = F - {coeff:g} * Fneu (neuropil coefficient from {where}{opts['neucoeff'][1]})")  # fmt: skip
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
    pixels = []
    for i, s in enumerate(stat):
        try:
            ypix, xpix = np.asarray(s["ypix"], int), np.asarray(s["xpix"], int)
            lam = np.asarray(s["lam"], np.float32)
            lam = np.broadcast_to(lam, np.shape(ypix)).ravel()
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
        if np.shape(ypix) != np.shape(xpix):
            raise InputError(f"{folder}/stat.npy ROI {i} is not a suite2p ROI (ypix and xpix differ in length)")  # fmt: skip
        pixels.append((ypix.ravel(), xpix.ravel(), lam))
    red = None
    if (folder / "redcell.npy").is_file():  # suite2p's red-channel verdict: [is red, probability]
        arr = np.asarray(_load(folder, "redcell.npy"))
        if arr.ndim != 2 or arr.shape[0] != k or arr.shape[1] < 2:
            raise InputError(
                f"{folder}: redcell.npy is {arr.shape}; it should be ({k}, 2), each ROI's red "
                f"verdict and probability, as suite2p writes it: files from different runs?"
            )
        red = (arr[:, 0] > 0.5, arr[:, 1].astype(float))
    chan2 = None  # the red channel's traces (2-channel runs): F_chan2 - coefficient * Fneu_chan2
    if (folder / "F_chan2.npy").is_file():
        f2 = _rows(folder, "F_chan2.npy", np.atleast_2d(_load(folder, "F_chan2.npy")), k, t)
        n2 = _rows(folder, "Fneu_chan2.npy", _load(folder, "Fneu_chan2.npy"), k, t) if (folder / "Fneu_chan2.npy").is_file() else None  # fmt: skip
        if n2 is None and coeff:
            warnings.append(f"{folder} has F_chan2.npy but no Fneu_chan2.npy: red = F_chan2, no neuropil subtracted")  # fmt: skip
        bg = coeff * n2 if n2 is not None else np.zeros_like(f2, dtype=float)
        chan2 = (f2 - bg, bg)
    return {"folder": folder, "k": k, "raw": F - coeff * fneu, "background": coeff * fneu,
            "spks": spks, "accepted": iscell[:, 0] > 0.5, "prob": iscell[:, 1].astype(float),
            "opts": opts, "pixels": pixels,
            "stat_shape": (ly, lx), "notes": notes, "warnings": warnings, "red": red,
            "chan2": chan2, "where": where}  # fmt: skip


def _footprints(pixels: list, shape: tuple[int, int], folder: Path) -> Footprints:
    """Sparse footprints of (ypix, xpix, lam) ROIs on a frame of `shape`."""
    rows, values = [], []  # each ROI's flat pixel indices and weights
    for i, (ypix, xpix, lam) in enumerate(pixels):
        try:
            flat = np.ravel_multi_index((ypix, xpix), shape).ravel()
        except (IndexError, ValueError) as exc:
            raise InputError(f"{folder}/stat.npy ROI {i} is not a suite2p ROI ({exc})") from None
        # a pixel listed twice keeps its last weight (as a dense assignment did)
        flat_sorted, last = np.unique(flat[::-1], return_index=True)
        rows.append(flat_sorted)
        values.append(lam[::-1][last])
    return Footprints.from_pixels(rows, shape, values)


def _frame_rate(fps: float | None, stored: tuple | None, notes: list[str], warnings: list[str]) -> float:  # fmt: skip
    """The rate used: the one given (a warning when the output says another), else the stored."""
    if fps:
        if stored and abs(stored[0] - fps) > 1e-6 * fps:
            warnings.append(f"frame rate {fps:g} Hz given, but {stored[1]} says {stored[0]:g} Hz: {fps:g} Hz used")  # fmt: skip
        notes.append(f"fs {fps:g} Hz (given)")
        return float(fps)
    if stored:
        notes.append(f"fs {stored[0]:g} Hz (from {stored[1]})")
        return float(stored[0])
    raise InputError("the suite2p output has no frame rate (fs): give it (--fps)")


def _result(shape, read: list[dict], fps, warnings: list[str], ids, window=None):
    """One plane's `SourcesResult` (as before multi-plane imports)."""
    one = read[0]
    fp = _footprints(one["pixels"], shape, one["folder"])
    notes, warnings = one["notes"], [*warnings, *one["warnings"]]
    stored = (float(one["opts"]["fs"][0]), one["where"] + one["opts"]["fs"][1]) if "fs" in one["opts"] else None  # fmt: skip
    rate = _frame_rate(fps, stored, notes, warnings)
    return imported_result(
        "suite2p", fp, one["raw"], fps=rate, ids=ids, spikes=one["spks"],
        background=one["background"], accepted=one["accepted"], notes=notes, warnings=warnings,
        tool_fps=stored[0] if stored else None, baseline_window_s=window,
    )  # fmt: skip


def _combine(folders: dict, read: list[dict], fps, warnings: list[str], ids, window=None):
    """Every plane as one result. Ids 0..K-1 run through the planes in order, as the rows of
    suite2p's combined/ output; `plane` and `plane_roi` (the row in planeN's stat.npy, F.npy,
    iscell.npy) lead back to suite2p. Planes of different lengths are cut to the shortest (a
    warning names them; suite2p's combined view pads them with zeros instead, which are no
    measurement). The frame rate is the planes' fs, the volume rate: each plane is imaged once
    per volume; planes whose fs differ get a warning (the first plane's is used)."""
    numbers = list(folders)
    counts = ", ".join(f"plane {p}: {r['k']}" for p, r in zip(numbers, read, strict=True))
    notes = [f"{len(read)} planes, {sum(r['k'] for r in read)} ROIs ({counts})"]
    lengths = [r["raw"].shape[1] for r in read]
    t = min(lengths)
    if len(set(lengths)) > 1:
        warnings.append(
            f"the planes have different frame counts ({', '.join(f'plane {p}: {n}' for p, n in zip(numbers, lengths, strict=True))}): "
            f"every plane was cut to the shortest, {t} frames (suite2p's combined view pads "
            f"with zeros instead)"
        )  # fmt: skip
    for p, r in zip(numbers, read, strict=True):  # a plane's own lines, said once if shared
        for key, out in (("notes", notes), ("warnings", warnings)):
            for line in r[key]:
                shared = all(line in other[key] for other in read)
                said = line if shared else f"plane {p}: {line}"
                if said not in out:
                    out.append(said)
    ly = max(r["stat_shape"][0] for r in read)
    lx = max(r["stat_shape"][1] for r in read)
    if len({r["stat_shape"] for r in read}) > 1:
        warnings.append(f"the planes' frames differ in size ({', '.join(f'{a} x {b}' for a, b in (r['stat_shape'] for r in read))}): footprints are on a {ly} x {lx} frame, each plane's at the top left")  # fmt: skip
    rates = [(float(r["opts"]["fs"][0]), f"plane{p}/{r['opts']['fs'][1]}") for p, r in zip(numbers, read, strict=True) if "fs" in r["opts"]]  # fmt: skip
    if len({fs for fs, _ in rates}) > 1:
        warnings.append(f"the planes' fs differ ({', '.join(f'{w}: {fs:g} Hz' for fs, w in rates)}): {rates[0][0]:g} Hz used")  # fmt: skip
    stored = rates[0] if rates else None
    rate = _frame_rate(fps, stored, notes, warnings)
    notes[-1] += " = the volume rate (each plane is imaged once per volume)"
    pixels = [px for r in read for px in r["pixels"]]
    fp = _footprints(pixels, (ly, lx), folders[numbers[0]].parent)
    spikes = None
    if any(r["spks"] is not None for r in read):
        spikes = np.concatenate([r["spks"][:, :t] if r["spks"] is not None else np.full((r["k"], t), np.nan) for r in read])  # fmt: skip
    result = imported_result(
        "suite2p", fp, np.concatenate([r["raw"][:, :t] for r in read]), fps=rate,
        ids=ids, spikes=spikes,
        background=np.concatenate([r["background"][:, :t] for r in read]),
        accepted=np.concatenate([r["accepted"] for r in read]), notes=notes, warnings=warnings,
        tool_fps=stored[0] if stored else None, baseline_window_s=window,
    )  # fmt: skip
    return result

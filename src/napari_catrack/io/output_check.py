"""Outputs never overwrite inputs: the one check before any command, batch run or export
writes (CLI commands, the batch runner and the Export widget call it alike, so it lives below
all of them rather than in `commands`)."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_catrack.errors import InputError, long_paths_as_lines
from napari_catrack.io.atomic import is_read_only, read_only_line, recover_before_reading

# Names that are files, never folders: an output folder named like this is a typo for a file.
FILE_SUFFIXES = (".tif", ".tiff", ".h5", ".hdf5", ".nwb", ".zarr", ".csv", ".xlsx", ".json",
                 ".yaml", ".toml", ".png", ".svg", ".pdf", ".pt", ".npy", ".avi", ".mp4")  # fmt: skip


@dataclass(frozen=True)
class OutputFolder:
    """An output folder and the files (relative paths) a command writes in it.

    `owned`: the command may write anything in it (a batch recording's folder), so no input may
    lie inside it."""

    path: str | os.PathLike
    files: tuple[str, ...] = ()
    owned: bool = False


@long_paths_as_lines()
def check_outputs(outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Refuse, before any work, outputs that would overwrite an input or each other.

    `outputs` and `inputs` map an option name (as the user typed it: "-o", "--shifts", "REC") to
    a path, an `OutputFolder` (outputs), a list of them, or None (not given). An input folder or
    glob also stands for the TIFF files in it (a TIFF-sequence recording), and for the TIFF
    files it would hold: an output TIFF it would read as a frame, or an output folder that is it,
    is refused even when the output does not exist yet (the recording would change, and with it
    every later run). Paths are compared as
    files where they exist (device and inode, as `os.path.samefile`: links, `..`), else as resolved
    paths. An output folder must not be a file, nor be named like one (`-o summary.tif`).
    Rewriting a command's own earlier outputs is allowed: only inputs are protected. Last, every
    output folder must be writable (`_check_writable`), so a read-only place fails now, not after
    the work.
    """
    # a set a killed run left half placed where an input lies is finished before it is read
    recover_before_reading(*(p for value in inputs.values() for p in _as_list(value)))
    given = [(opt, Path(p)) for opt, value in inputs.items() for p in _input_files(value)]
    sequences = [(opt, p) for opt, value in inputs.items() for p in map(str, _as_list(value))
                 if _is_tiff_sequence(p)]  # fmt: skip
    taken = {_file_key(p): (opt, p) for opt, p in reversed(given)}
    written: dict[tuple, tuple[str, str]] = {}  # file key -> (option, how the user named it)
    folders: list[tuple[str, OutputFolder]] = []
    for opt, value in outputs.items():
        for out in _as_list(value):
            if isinstance(out, OutputFolder):
                _check_folder(opt, out)
                _check_not_a_sequence(f"{opt} {out.path}", Path(out.path), sequences)
                folders.append((opt, out))
                targets = [(Path(out.path) / name, f"{opt} {out.path}", f" would write {name} over")
                           for name in out.files]  # fmt: skip
            else:
                targets = [(Path(out), f"{opt} {out}", " would overwrite")]
            for path, shown, verb in targets:
                key = _file_key(path)
                if key in taken:
                    in_opt, in_path = taken[key]
                    raise InputError(f"{shown}{verb} the input {in_opt} {in_path}; "
                                     "write the output somewhere else")  # fmt: skip
                _check_not_a_frame(shown, path, sequences)
                if is_read_only(path):
                    raise InputError(f"{shown}: {read_only_line(path)}")
                if key in written:
                    raise InputError(f"{written[key][1]} and {shown} would write the same file "
                                     f"{path}; give each output its own path")  # fmt: skip
                written[key] = (opt, shown)
    for opt, out in folders:
        key = _file_key(Path(out.path))
        if key in written:
            raise InputError(f"{written[key][1]} is also the output folder {opt} {out.path}; "
                             "give each output its own path")  # fmt: skip
        inside = [(o, p) for o, p in given if out.owned and _is_inside(p, Path(out.path))]
        if inside:
            raise InputError(f"{opt} {out.path} is an output folder, but it holds the input "
                             f"{inside[0][0]} {inside[0][1]}; write the output somewhere else")  # fmt: skip
    _check_writable(
        (opt, str(out.path if isinstance(out, OutputFolder) else out),
         Path(out.path) if isinstance(out, OutputFolder) else Path(out).parent)
        for opt, value in outputs.items() for out in _as_list(value)
    )  # fmt: skip


def _check_writable(outputs: Iterator[tuple[str, str, Path]]) -> None:
    """Try to create (and remove) a file where each output goes, before any work: the first
    write used to come after it all (a read-only share failed `catrack summary` after 72-162 s).

    `outputs`: (option, path as given, folder the output goes in). A folder that does not exist
    yet is tested where it would be created (its nearest existing parent), so nothing is made
    for a command that may still stop on a bad input."""
    seen: set[str] = set()
    for opt, shown, folder in outputs:
        folder = Path(os.path.abspath(folder))
        existing = folder
        while not existing.exists() and existing.parent != existing:
            existing = existing.parent
        key = str(existing)
        if key in seen:
            continue
        seen.add(key)
        if not existing.is_dir():
            raise InputError(f"{opt} {shown}: cannot create the folder {folder}, because "
                             f"{existing} is a file; give a path in a folder")  # fmt: skip
        try:
            fd, name = tempfile.mkstemp(prefix=".catrack-write-test.", dir=existing)
            os.close(fd)
            os.unlink(name)
        except OSError as exc:
            raise InputError(f"{opt} {shown}: cannot write in {existing}: "
                             f"{exc.strerror or exc}; choose a folder you can write to") from None  # fmt: skip


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, str | os.PathLike | OutputFolder):
        return [value]
    return [v for v in value if v is not None]


def _input_files(value: Any) -> Iterator[str]:
    """An input path, and for a folder or glob its frame files (TIFF, PNG, JPEG or BMP)."""
    for p in map(str, _as_list(value)):
        yield p
        if os.path.isdir(p):
            names = [os.path.join(p, n) for n in os.listdir(p)]
        elif _is_pattern(p):
            names = glob.glob(p)
        else:
            continue
        yield from (n for n in names if _reads_as_frame(n))


def _reads_as_frame(name: str | os.PathLike) -> bool:
    """Whether a file `name` in a folder of frames is, or may become, one of its frames: any
    TIFF, PNG, JPEG or BMP file (a folder mixing kinds reads them all when they are one size and
    kind, and which kind is read follows the counts: `io.tiff.sequence_files`); a hidden file
    (".x.tif", macOS's "._frame1.tif") is never one."""
    from napari_catrack.io.tiff import frame_file_kind, is_hidden_file

    return frame_file_kind(name) is not None and not is_hidden_file(name)


def _is_pattern(p: str) -> bool:
    return not os.path.exists(p) and any(c in p for c in "*?[")


def _is_tiff_sequence(p: str) -> bool:
    """An input the readers take as one movie made of frame files: a glob pattern, or a folder
    (not a .zarr movie) that holds TIFF, PNG, JPEG or BMP frames. An image written into it
    would join the recording (or change which kind of file is read). Other input folders (a
    suite2p or batch folder) are not recordings of frame files."""
    from napari_catrack.io.zarr_movie import is_zarr_path

    if _is_pattern(p):
        return True
    if not os.path.isdir(p) or is_zarr_path(p):
        return False
    names = os.listdir(p)
    return any(map(_reads_as_frame, names))


def _check_not_a_frame(shown: str, path: Path, sequences: list[tuple[str, str]]) -> None:
    """Refuse an output TIFF, PNG, JPEG or BMP that a folder/glob input would (or might) read
    as one more frame file: the first run would change the recording (and every later run
    would read another movie)."""
    from napari_catrack.io.tiff import IMAGE_SUFFIXES, is_frame_image_path, is_tiff_path

    if not (is_tiff_path(path) or is_frame_image_path(path)):
        return
    for opt, spec in sequences:
        if _is_pattern(spec):
            inside = _matches_pattern(path, spec)
        else:
            same = _file_key(Path(os.path.realpath(path.parent))) == _file_key(Path(spec))
            inside = same and _reads_as_frame(path.name)
        if inside:
            kind = "TIFF" if is_tiff_path(path) else IMAGE_SUFFIXES[path.suffix.lower()]
            raise InputError(
                f"{shown} would put the {kind} file {path.name} into the input {opt} {spec}, "
                "whose frame files are read as one recording: the output would change the "
                "recording; write it outside that folder"
            )


def _check_not_a_sequence(shown: str, folder: Path, sequences: list[tuple[str, str]]) -> None:
    """Refuse an output folder that is a folder input read as one recording."""
    for opt, spec in sequences:
        if not _is_pattern(spec) and _file_key(folder) == _file_key(Path(spec)):
            raise InputError(
                f"{shown} is the input {opt}, a folder whose frame files are read as one "
                "recording; write the outputs to a folder of their own"
            )


def _matches_pattern(path: Path, pattern: str) -> bool:
    """Whether `glob.glob(pattern)` would list `path` once it exists (component by component,
    as glob matches: `*` never crosses a folder)."""
    import fnmatch

    parts = Path(os.path.abspath(path)).parts
    wanted = Path(os.path.abspath(pattern)).parts
    return len(parts) == len(wanted) and all(map(fnmatch.fnmatch, parts, wanted))


def same_file(a: Any, b: Any) -> bool:
    """Whether two paths name one file (device and inode where it exists, else the resolved
    path); False when either is missing (None or "")."""
    return bool(a and b) and _file_key(Path(a)) == _file_key(Path(b))


def _file_key(path: Path) -> tuple:
    """Equal for two names of one file: (device, inode) where it exists, else the resolved path."""
    try:
        st = os.stat(path)
    except OSError:
        return ("path", os.path.normcase(os.path.realpath(path)))
    return ("file", st.st_dev, st.st_ino)


def _is_inside(path: Path, folder: Path) -> bool:
    p, f = os.path.realpath(path), os.path.realpath(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


def _check_folder(opt: str, out: OutputFolder) -> None:
    folder = Path(out.path)
    what = f" (it receives {', '.join(out.files[:3])}{', ...' if len(out.files) > 3 else ''})"
    what = what if out.files else ""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{opt} {folder} is a file; give a folder{what}")
    if not out.owned and not folder.exists() and folder.suffix.lower() in FILE_SUFFIXES:
        raise InputError(
            f"{opt} {folder} is named like a file; give a folder{what}, such as "
            f"{folder.with_suffix('')}"
        )


def recording_inputs(recording: Any, label: str = "REC") -> dict[str, Any]:
    """A recording and its session file beside it (`movie.catrack.h5`: the user's accepted
    alignment and cached estimate, read by every command that maps red <-> green)."""
    from napari_catrack.session import default_session_path

    if recording is None:
        return {}
    return {label: recording, f"session file of {label}": default_session_path(recording)}


def session_inputs(session, label: str = "SESSION") -> dict[str, Any]:
    """The files an opened session stands on: itself, its recording and its behaviour video."""
    linked = {label: session.path}
    linked[f"recording of {label}"] = (session.recording or {}).get("path")
    if "behaviour_video" in session:
        video = session["behaviour_video"].attrs.get("path")
        linked[f"behaviour video of {label}"] = session.resolve_stored_path(video)
    return linked

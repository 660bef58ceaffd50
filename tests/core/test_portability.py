"""Windows and macOS behaviour simulated on Linux: process start methods without fork, a file
held open by another program, non-ASCII paths and a non-UTF-8 locale (docs/installation.md)."""

from __future__ import annotations

import errno
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest


def test_centerline_worker_runs_spawned_where_there_is_no_fork_server(monkeypatch):
    """Windows has only "spawn": `get_context("forkserver")` raises ValueError there. The
    segmentation + centerline pipeline's worker process then starts spawned (a fresh interpreter
    that must import everything it runs) and gives exactly the one-after-the-other results."""
    from napari_catrack.core.behaviour import (
        SegmentParams,
        compute_centerlines,
        pipeline,
        segment_video,
    )
    from tests.core._behaviour_helpers import mid_prompt, small_video

    real_get_context = multiprocessing.get_context
    used: list[str | None] = []

    def windows_get_context(method=None):
        used.append(method)
        if method in ("fork", "forkserver"):
            raise ValueError(f"cannot find context for {method!r}")
        return real_get_context(method)

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(multiprocessing, "get_context", windows_get_context)
    v = small_video(n_frames=40)  # more than one chunk of 32 frames
    params = SegmentParams(method="classical")
    seg, cl = pipeline.segment_and_centerline(v.frames, mid_prompt(v), params, processes=1)
    assert used == ["spawn"]
    ref_seg = segment_video(v.frames, mid_prompt(v), params)
    ref = compute_centerlines(ref_seg.masks)
    np.testing.assert_array_equal(seg.masks, ref_seg.masks)
    np.testing.assert_array_equal(cl.points, ref.points)
    np.testing.assert_array_equal(cl.status, ref.status)


# ------------------------------------------------- Windows: a file open in another program
WINDOWS_HELD = "The process cannot access the file because it is being used by another process"


def _hold_open(monkeypatch, *held: Path, times: int | None = None) -> list[Path]:
    """Make `os.replace` onto (or away from) a path in `held` fail as Windows does while another
    program has that file open (Excel showing a CSV): PermissionError (WinError 32), always or
    the first `times` times. Returns the list of refused targets."""
    real = os.replace
    refused: list[Path] = []

    def replace(src, dst):
        if (Path(dst) in held or Path(src) in held) and (times is None or len(refused) < times):
            refused.append(Path(dst))
            raise PermissionError(errno.EACCES, WINDOWS_HELD, str(src), None, str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    return refused


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_file_held_open_elsewhere_is_one_clear_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    from napari_catrack.errors import InputError
    from napari_catrack.io.atomic import write_text_atomic

    path = write_text_atomic(tmp_path / "cells.csv", "old\n")
    _hold_open(monkeypatch, path)
    with pytest.raises(InputError) as info:
        write_text_atomic(path, "new\n")
    line = str(info.value)
    assert "\n" not in line and str(path) in line
    assert "open in another program" in line and "close it there" in line
    assert "left as it was" in line
    assert path.read_text(encoding="utf-8") == "old\n" and _leftovers(tmp_path) == []


def test_a_set_with_one_file_held_open_elsewhere_replaces_none(tmp_path, monkeypatch):
    """`atomic_write_set`: the second file is held open, so the first, already moved into place,
    is taken back: both older files stay, and no `.old`/`.partial` file is left."""
    from napari_catrack.errors import InputError
    from napari_catrack.io.atomic import atomic_write_set, write_text_atomic

    a = write_text_atomic(tmp_path / "a.csv", "old a\n")
    b = write_text_atomic(tmp_path / "b.csv", "old b\n")
    _hold_open(monkeypatch, b)
    with pytest.raises(InputError, match="b.csv.*open in another program.*none of the files"):
        with atomic_write_set():
            write_text_atomic(a, "new a\n")
            write_text_atomic(b, "new b\n")
    assert a.read_text(encoding="utf-8") == "old a\n" and b.read_text(encoding="utf-8") == "old b\n"
    assert _leftovers(tmp_path) == []


def test_a_replace_refused_for_a_moment_is_retried_on_windows(tmp_path, monkeypatch):
    """An antivirus or the search indexer opens a new file for a moment: the replace is tried
    again (Windows only) instead of failing the write."""
    from napari_catrack.io import atomic

    path = atomic.write_text_atomic(tmp_path / "summary.json", "{}")
    refused = _hold_open(monkeypatch, path, times=3)
    monkeypatch.setattr(atomic, "WINDOWS", True)
    atomic.write_text_atomic(path, '{"n": 1}')
    assert len(refused) == 3 and path.read_text(encoding="utf-8") == '{"n": 1}'
    assert _leftovers(tmp_path) == []


def test_a_session_held_open_elsewhere_autosaves_beside_it(tmp_path, monkeypatch):
    """Windows cannot replace a session file that HDFView or a notebook holds open (even to
    read): the autosave goes to the next free name beside it and says so, as for a file changed
    by another writer; the held file is left as it was."""
    from napari_catrack.session import Session, SessionFileChanged

    path = tmp_path / "movie.catrack.h5"
    Session(path).record("alignment", attrs={"dy": 1.0})
    s = Session.load(path)
    _hold_open(monkeypatch, path)
    with pytest.warns(SessionFileChanged, match=r"movie\.catrack\.h5 is open in another.*movie-2"):
        s.record("settings", attrs={"fps": 5.0})
    monkeypatch.undo()
    assert set(Session.load(path).steps) == {"alignment"}
    assert set(Session.load(tmp_path / "movie-2.catrack.h5").steps) == {"alignment", "settings"}
    assert s.path == tmp_path / "movie-2.catrack.h5"

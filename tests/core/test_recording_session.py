"""A command given a recording alone finds its session: `movie.catrack.h5` beside it, else the
one session in its folder that records this very recording (the demo's `demo.catrack.h5`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.core.alignment_rule import alignment_for_recording
from napari_catrack.errors import InputError
from napari_catrack.io.provenance import inputs_provenance
from napari_catrack.io.recording import open_recording
from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.recording_session import recording_session_path
from napari_catrack.session import Session

ACCEPTED = {"dy": 0.75, "dx": -0.5, "rotation_deg": 0.0}  # not what an estimate would give
OTHER = {"dy": 0.25, "dx": 0.0, "rotation_deg": 0.0}  # another accepted alignment


def _movie(path, seed: int = 0):
    rng = np.random.default_rng(seed)
    green = rng.integers(100, 4000, (6, 48, 48), dtype=np.uint16)
    red = rng.integers(100, 4000, (6, 48, 48), dtype=np.uint16)
    return write_movie_tiff(path, green, red, fps=5.0)


def _session(path, recording, accepted: dict | None = ACCEPTED, facts_of=None) -> None:
    """A session named for its run (not the movie) whose recording is `recording`; its
    alignment step records the recording's size and SHA-256 (`facts_of`: another file's)."""
    s = Session(path, autosave=False)
    s.set_recording(str(recording), {}, {"frames": 6, "height": 48, "width": 48})
    inputs = inputs_provenance(s, {"recording": facts_of or recording})
    inputs["recording"]["path"] = str(recording)
    s.record("alignment", attrs={**(accepted or {}), "source": "manual", "inputs": inputs})
    s.save()


def _alignment(rec, lines: list | None = None):
    """The alignment a command given the recording `rec` alone would use (`lines`: what it says)."""
    r = open_recording(rec)
    try:
        return alignment_for_recording(r, log=lines.append if lines is not None else None)
    finally:
        r.close()


def test_the_session_of_a_recording_in_its_folder_is_found_and_said(tmp_path):
    """`catrack demo -o D` writes D/demo.catrack.h5 for D/recording.tif: a command given
    D/recording.tif estimated an alignment and wrote D/recording.catrack.h5 beside it instead
    of using the accepted one."""
    rec = _movie(tmp_path / "recording.tif")
    _session(tmp_path / "demo.catrack.h5", rec)
    lines: list[str] = []
    used = _alignment(rec, lines)
    assert used.source == "accepted"
    assert (used.transform.dy, used.transform.dx) == pytest.approx((0.75, -0.5))
    assert any("using demo.catrack.h5" in line for line in lines), lines
    assert not (tmp_path / "recording.catrack.h5").exists()
    # the movie's own session file wins when it exists
    _session(tmp_path / "recording.catrack.h5", rec, accepted={"dy": 0.25, "dx": 0.0})
    assert recording_session_path(rec) == tmp_path / "recording.catrack.h5"


def test_only_a_session_of_this_very_recording_is_taken(tmp_path):
    rec = _movie(tmp_path / "recording.tif")
    other = _movie(tmp_path / "other.tif", seed=1)
    _session(tmp_path / "other_run.catrack.h5", other)
    assert recording_session_path(rec) == tmp_path / "recording.catrack.h5"  # none: the default
    # the recorded name, but the size/SHA-256 of another movie: the file was replaced
    _session(tmp_path / "stale.catrack.h5", rec, facts_of=other)
    assert recording_session_path(rec) == tmp_path / "recording.catrack.h5"
    # a session of a copy (another name, same content) is a session of this recording
    copy = tmp_path / "elsewhere" / "recording.tif"
    copy.parent.mkdir()
    copy.write_bytes(rec.read_bytes())
    assert recording_session_path(copy) == copy.with_name("recording.catrack.h5")  # not there
    _session(copy.parent / "copied.catrack.h5", rec)
    assert recording_session_path(copy) == copy.parent / "copied.catrack.h5"


def test_two_sessions_of_the_recording_are_refused_in_one_line(tmp_path, capsys):
    rec = _movie(tmp_path / "recording.tif")
    _session(tmp_path / "a.catrack.h5", rec)
    _session(tmp_path / "b.catrack.h5", rec, accepted=OTHER)  # which applies: the user's call
    with pytest.raises(InputError, match=r"a.catrack.h5 \(modified .*; steps alignment\), b.cat"):
        recording_session_path(rec)
    tracks = tmp_path / "tracks.csv"
    pd.DataFrame({"neuron_id": [1] * 6, "frame": range(6), "y": 20.0, "x": 20.0}).to_csv(
        tracks, index=False
    )
    argv = ["traces", str(rec), "--tracks", str(tracks), "-o", str(tmp_path / "t.csv")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 session files" in err[0] and "--align FILE" in err[0], err
    assert main([*argv, "--align", str(tmp_path / "al.json")]) == 2  # no such file: its error
    assert "2 session files" not in capsys.readouterr().err


def test_two_sessions_under_a_session_option_are_refused_with_advice_that_fits(tmp_path, capsys):
    """Given --session FILE (without an alignment), two sessions of the recording in its folder
    are still refused (which accepted alignment applies is the user's call), but the line must
    not tell the user to give the --session they gave: --align FILE, or an alignment recorded
    in their --session."""
    rec = _movie(tmp_path / "recording.tif")
    _session(tmp_path / "a.catrack.h5", rec)
    _session(tmp_path / "b.catrack.h5", rec, accepted=OTHER)
    tracks = tmp_path / "tracks.csv"
    pd.DataFrame({"neuron_id": [1] * 6, "frame": range(6), "y": 20.0, "x": 20.0}).to_csv(
        tracks, index=False
    )
    mine = tmp_path / "runs" / "mine.catrack.h5"
    argv = ["traces", str(rec), "--tracks", str(tracks), "-o", str(tmp_path / "t.csv"),
            "--session", str(mine)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 session files" in err[0], err
    assert "give --session" not in err[0] and "--align FILE" in err[0], err
    assert "--session mine.catrack.h5" in err[0], err


def test_a_session_found_in_the_folder_is_read_not_written(tmp_path, recwarn):
    """A session found by its recording (not movie.catrack.h5) without an accepted alignment:
    the command estimates one and leaves that session byte for byte as it was. Cached into it
    (a write_step), a viewer that has it open saved its next step beside it (run-2.catrack.h5,
    "changed on disk"), and from then on every command given the recording alone was refused:
    two sessions record it."""
    rec = _movie(tmp_path / "recording.tif")
    run = tmp_path / "run.catrack.h5"
    s = Session(run, autosave=False)
    s.set_recording(str(rec), {}, {"frames": 6, "height": 48, "width": 48})
    s.record("tracks", tables={"tracks": pd.DataFrame({"neuron_id": [1], "frame": [0]})})
    s.save()
    gui = Session.load(run)  # a viewer with the run's session open (autosaves)
    before = run.read_bytes()
    for _ in range(2):
        used = _alignment(rec)
        assert used.source == "estimated"
        assert run.read_bytes() == before
        assert not (tmp_path / "recording.catrack.h5").exists()
        gui.record("traces", tables={"traces": pd.DataFrame({"neuron_id": [1], "frame": [0]})})
        assert gui.path == run  # saved in place: nobody else wrote it
        before = run.read_bytes()


def _tracks(tmp_path):
    tracks = tmp_path / "tracks.csv"
    pd.DataFrame({"neuron_id": [1] * 6, "frame": range(6), "y": 20.0, "x": 20.0}).to_csv(
        tracks, index=False
    )
    return tracks


def test_a_session_saved_beside_the_movies_session_is_not_passed_over_silently(
    tmp_path, capsys, recwarn
):
    """A viewer's session whose file another program changed meanwhile saves beside it
    (recording-2.catrack.h5). A command given the recording alone took recording.catrack.h5
    without a word, though the viewer's later work (here another accepted alignment) is in the
    other file: now it names both (last modified, steps, which branched from which) and says
    which option picks one; `--session FILE` picks it."""
    rec = _movie(tmp_path / "recording.tif")
    own = tmp_path / "recording.catrack.h5"
    _session(own, rec, accepted=OTHER)
    gui = Session.load(own)  # a viewer with the session open
    other = Session.load(own)  # another program records a step meanwhile
    other.record("notes", attrs={"by": "a catrack command"})
    other.save()
    inputs = inputs_provenance(gui, {"recording": rec})
    gui.record("alignment", attrs={**ACCEPTED, "source": "manual", "inputs": inputs})
    fallback = gui.save()
    assert fallback == tmp_path / "recording-2.catrack.h5"
    assert Session.load(fallback).branched_from["file"] == "recording.catrack.h5"
    assert Session.read_provenance(fallback)["branched_from"]["reason"].startswith("was changed")
    assert "branched_from" not in Session.read_provenance(own)

    argv = ["traces", str(rec), "--tracks", str(_tracks(tmp_path)), "-o", str(tmp_path / "t.csv")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    line = err[0]
    assert "2 session files" in line and "pick one with --session FILE" in line, line
    assert "recording.catrack.h5 (modified 20" in line, line
    assert "recording-2.catrack.h5 (modified 20" in line, line
    assert "steps alignment, notes" in line and "saved beside recording.catrack.h5 at " in line
    assert not (tmp_path / "t.csv").exists()
    # the option the line names picks one: the viewer's accepted alignment
    assert main([*argv, "--session", str(fallback)]) == 0
    out = capsys.readouterr()
    assert "dy +0.75 px, dx -0.50 px" in out.out + out.err
    assert (tmp_path / "t.csv").exists()


def test_a_second_session_that_accepts_no_alignment_needs_no_choice(tmp_path):
    """recording.catrack.h5 accepts an alignment; recording-2.catrack.h5 beside it accepts none
    (a new viewer's session autosaved beside the earlier file, as every version did: it holds
    tracks only). The accepted alignment is the only one either file has: a command given the
    recording alone uses it, as before h15, and does not start refusing."""
    rec = _movie(tmp_path / "recording.tif")
    _session(tmp_path / "recording.catrack.h5", rec)
    s = Session(tmp_path / "recording-2.catrack.h5", autosave=False)
    s.set_recording(str(rec), {}, {"frames": 6, "height": 48, "width": 48})
    s.record("tracks", tables={"tracks": pd.DataFrame({"neuron_id": [1], "frame": [0]})})
    s.save()
    lines: list[str] = []
    used = _alignment(rec, lines)
    assert used.source == "accepted"
    assert (used.transform.dy, used.transform.dx) == pytest.approx((0.75, -0.5))
    assert any("recording.catrack.h5" in line and "recording-2" not in line for line in lines)


def test_sessions_that_accept_the_same_alignment_need_no_choice(tmp_path):
    """demo.catrack.h5 and the demo-2.catrack.h5 a viewer saved beside it accept the same
    alignment (the viewer's copy of it): a command given the recording alone was refused,
    though either choice uses the same alignment; now it uses it and says so. Neither accepting
    one: estimated, cached in neither."""
    rec = _movie(tmp_path / "recording.tif")
    _session(tmp_path / "demo.catrack.h5", rec)
    _session(tmp_path / "demo-2.catrack.h5", rec)
    lines: list[str] = []
    used = _alignment(rec, lines)
    assert used.source == "accepted"
    assert (used.transform.dy, used.transform.dx) == pytest.approx((0.75, -0.5))
    assert any("demo-2.catrack.h5 and demo.catrack.h5" in line for line in lines), lines

    other = tmp_path / "none"
    other.mkdir()
    rec2 = _movie(other / "recording.tif")
    for name in ("a.catrack.h5", "b.catrack.h5"):
        s = Session(other / name, autosave=False)
        s.set_recording(str(rec2), {}, {"frames": 6, "height": 48, "width": 48})
        s.record("tracks", tables={"tracks": pd.DataFrame({"neuron_id": [1], "frame": [0]})})
        s.save()
    before = {p: p.read_bytes() for p in other.glob("*.catrack.h5")}
    used = _alignment(rec2)
    assert used.source == "estimated"
    assert {p: p.read_bytes() for p in other.glob("*.catrack.h5")} == before


def test_a_second_movie_named_like_a_branch_keeps_its_own_session(tmp_path, capsys):
    """movie.tif and movie-2.tif (here a byte-identical copy, re-analysed) each with its own
    session: movie-2.catrack.h5 counted as a branch of movie.catrack.h5 by its name alone, so
    `catrack traces movie.tif` was refused ("2 session files"). A branch is what its
    `branched_from` says (or, in a file from before it, a name-pattern file that is not the
    session beside the recording it records)."""
    import shutil

    movie = _movie(tmp_path / "movie.tif")
    second = tmp_path / "movie-2.tif"
    shutil.copy(movie, second)
    _session(tmp_path / "movie.catrack.h5", movie)
    _session(tmp_path / "movie-2.catrack.h5", second, accepted=OTHER)
    tracks = _tracks(tmp_path)
    for rec, used in ((movie, "dy +0.75 px, dx -0.50 px"), (second, "dy +0.25 px, dx +0.00 px")):
        out = tmp_path / f"{rec.stem}.csv"
        assert main(["traces", str(rec), "--tracks", str(tracks), "-o", str(out)]) == 0
        err = capsys.readouterr().err
        assert f"alignment accepted: {used}" in err and f"({rec.stem}.catrack.h5)" in err, err
        assert "session files" not in err and out.is_file()


def test_a_branch_named_like_a_second_movies_session_is_not_that_movies(tmp_path, capsys):
    """movie.catrack.h5 saved beside itself as movie-2.catrack.h5 (`branched_from`, recording
    movie.tif) while a second movie movie-2.tif lies there: `catrack traces movie-2.tif` took
    that file for its own session and used movie's alignment; now it is movie's branch (still
    refused as ambiguous for movie.tif), movie-2.tif's alignment is estimated, and that file is
    left untouched. A new branch is never named after a second movie (movie-3 instead)."""
    from napari_catrack.session import free_session_path

    movie = _movie(tmp_path / "movie.tif")
    second = _movie(tmp_path / "movie-2.tif", seed=1)
    own = tmp_path / "movie.catrack.h5"
    _session(own, movie)
    branch = tmp_path / "movie-2.catrack.h5"
    s = Session(branch, autosave=False)
    s.set_recording(str(movie), {}, {"frames": 6, "height": 48, "width": 48})
    inputs = inputs_provenance(s, {"recording": movie})
    s.record("alignment", attrs={**OTHER, "source": "manual", "inputs": inputs})
    s.branched_from = {"file": own.name, "reason": "was changed on disk", "at": "2026-12-01"}
    s.save()
    stamp = branch.stat().st_mtime_ns
    tracks = _tracks(tmp_path)
    argv = ["traces", str(second), "--tracks", str(tracks), "-o", str(tmp_path / "b.csv")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "alignment estimated" in err and "dy +0.25" not in err, err
    assert branch.stat().st_mtime_ns == stamp
    argv = ["traces", str(movie), "--tracks", str(tracks), "-o", str(tmp_path / "a.csv")]
    assert main(argv) == 2
    assert "2 session files" in capsys.readouterr().err  # the real branch: still asked
    assert free_session_path(own) == tmp_path / "movie-3.catrack.h5"


def test_the_movies_own_session_stays_its_own_after_the_movie_file_changed(tmp_path):
    """movie.catrack.h5 beside movie.tif, recording movie.tif, whose file was saved again since
    (another size/SHA-256: a TIFF re-saved in Fiji). h16 took the own session for "another
    recording's" (`_records` is 0 on a content change) and answered movie-2.catrack.h5: the
    accepted alignment was dropped for an estimate. A session recording this very path is the
    movie's own, as before h16."""
    movie = _movie(tmp_path / "movie.tif")
    own = tmp_path / "movie.catrack.h5"
    _session(own, movie)
    _movie(movie, seed=3)  # the same path, written again with other frames
    assert recording_session_path(movie) == own
    used = _alignment(movie)
    assert used.source == "accepted"
    assert (used.transform.dy, used.transform.dx) == pytest.approx((0.75, -0.5))


def test_the_folder_is_listed_once_per_lookup(tmp_path, monkeypatch):
    """h16 listed the recording's folder again for every read of every candidate session's
    provenance (a recovery pass each): 7 listings for three session files, each a cost that
    grows with the folder (a folder of 5,000 frames). Now once, with the same answer."""
    import os

    from napari_catrack.recording_session import AmbiguousSessions

    rec = _movie(tmp_path / "recording.tif")
    for name in ("a", "b", "c"):
        _session(tmp_path / f"{name}.catrack.h5", rec)
    listed: list[str] = []
    real_listdir, real_scandir = os.listdir, os.scandir
    where = str(tmp_path)

    def listdir(path="."):
        listed.append(os.path.abspath(path))
        return real_listdir(path)

    def scandir(path="."):
        listed.append(os.path.abspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(AmbiguousSessions, match="3 session files") as caught:
        recording_session_path(rec)
    assert [p.name for p in caught.value.paths] == ["a.catrack.h5", "b.catrack.h5", "c.catrack.h5"]
    assert listed.count(where) == 1, listed
    listed.clear()
    (tmp_path / "b.catrack.h5").unlink()
    (tmp_path / "c.catrack.h5").unlink()
    assert recording_session_path(rec) == tmp_path / "a.catrack.h5"
    assert listed.count(where) == 1, listed

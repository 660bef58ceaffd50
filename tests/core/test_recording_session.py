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


def test_the_session_of_a_recording_in_its_folder_is_found_and_said(tmp_path):
    """`catrack demo -o D` writes D/demo.catrack.h5 for D/recording.tif: a command given
    D/recording.tif estimated an alignment and wrote D/recording.catrack.h5 beside it instead
    of using the accepted one."""
    rec = _movie(tmp_path / "recording.tif")
    _session(tmp_path / "demo.catrack.h5", rec)
    lines: list[str] = []
    r = open_recording(rec)
    try:
        used = alignment_for_recording(r, log=lines.append)
    finally:
        r.close()
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
    _session(tmp_path / "b.catrack.h5", rec)
    with pytest.raises(InputError, match="a.catrack.h5, b.catrack.h5"):
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
    _session(tmp_path / "b.catrack.h5", rec)
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
        r = open_recording(rec)
        try:
            used = alignment_for_recording(r)
        finally:
            r.close()
        assert used.source == "estimated"
        assert run.read_bytes() == before
        assert not (tmp_path / "recording.catrack.h5").exists()
        gui.record("traces", tables={"traces": pd.DataFrame({"neuron_id": [1], "frame": [0]})})
        assert gui.path == run  # saved in place: nobody else wrote it
        before = run.read_bytes()

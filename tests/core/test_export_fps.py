"""`catrack export --fps` (h21): the NWB item of the main export command takes the imaging frame
rate `catrack export-nwb --fps` takes (one definition, same help, same rule), so a movie that
states no rate goes to NWB from either command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import build_parser, main

pytest.importorskip("pynwb")


def _rateless_session(folder):
    """A session of a movie that states no frame rate (nor does anything else in it): one
    neuron tracked."""
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session

    folder.mkdir(parents=True, exist_ok=True)
    movie = np.random.default_rng(0).integers(0, 50, (12, 16, 20)).astype(np.uint16)
    path = write_movie_tiff(folder / "movie.tif", movie)
    session = Session(folder / "movie.catrack.h5", autosave=False)
    session.set_recording(str(path), {}, {"frames": 12, "height": 16, "width": 20, "channels": 1})
    tracks = pd.DataFrame({"neuron_id": 1, "frame": np.arange(12), "y": 8.0, "x": 10.0})
    session.record("tracks", tables={"tracks": tracks})  # something to export as NWB
    session.save()
    assert session.frame_rate() is None
    return session.path


def _option(command: str, name: str = "--fps"):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command" or a.choices)  # subparsers
    return next(a for a in sub.choices[command]._actions if name in a.option_strings)


def test_export_fps_is_export_nwb_fps():
    """Failed before h21: `catrack export` had no --fps."""
    ours, theirs = _option("export"), _option("export-nwb")
    assert (ours.help, ours.type, ours.metavar, ours.default) == (
        theirs.help, theirs.type, theirs.metavar, theirs.default)  # fmt: skip


def test_a_movie_without_a_rate_goes_to_nwb_from_catrack_export(tmp_path, capsys):
    from pynwb import NWBHDF5IO

    session = _rateless_session(tmp_path / "s")
    out = tmp_path / "out"
    assert main(["export", str(session), "-o", str(out), "--items", "nwb"]) == 1
    err = capsys.readouterr().err
    assert "the session has no frame rate" in err and "`catrack export --fps`" in err
    assert not (out / "session.nwb").exists()
    assert main(["export", str(session), "-o", str(out), "--items", "nwb", "--fps", "20"]) == 0
    with NWBHDF5IO(str(out / "session.nwb"), "r") as io:
        imaging = io.read().acquisition["Imaging"]
        assert imaging.rate == 20.0 and imaging.starting_time == 0.0


def test_export_fps_without_an_nwb_item_is_refused(tmp_path, capsys):
    """--fps times the NWB file only: given without one, one line says so and nothing is written."""
    session = _rateless_session(tmp_path / "s")
    out = tmp_path / "out"
    assert main(["export", str(session), "-o", str(out), "--items", "session", "--fps", "20"]) == 2
    assert "--fps is the NWB file's imaging frame rate" in capsys.readouterr().err
    assert not out.exists()


def _notes(path):
    import json

    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        return json.loads(nwb.notes), nwb.acquisition["Imaging"].rate


def test_the_given_rate_is_in_the_nwb_files_provenance_record(tmp_path, capsys):
    """`--fps` timed the series but the file's provenance record (`notes`) said nothing of it:
    a reader could not tell the rate was given at export, not recorded (h22). Now `notes`'
    `export` says the rate and where it came from, from both commands, and the session's when
    none is given."""
    from napari_catrack.session import Session

    session = _rateless_session(tmp_path / "s")
    nwb = tmp_path / "a.nwb"
    assert main(["export-nwb", str(session), "-o", str(nwb), "--no-prompt", "--fps", "20"]) == 0
    notes, rate = _notes(nwb)
    assert rate == 20.0
    assert notes["export"] == {"fps": 20.0, "fps_source": "export", "frame_times": False}
    assert "tracks" in notes["provenance"]  # the steps' record is still there
    assert main(["export", str(session), "-o", str(tmp_path / "o"), "--items", "nwb",
                 "--fps", "12.5"]) == 0  # fmt: skip
    notes, rate = _notes(tmp_path / "o" / "session.nwb")
    assert rate == 12.5 and notes["export"]["fps"] == 12.5
    assert notes["export"]["fps_source"] == "export"
    s = Session.load(session)
    s.record("settings", attrs={"fps": 5.0})  # as a widget's frame rate box sets it
    s.save()
    s.close()
    assert main(["export-nwb", str(session), "-o", str(nwb), "--no-prompt"]) == 0
    notes, rate = _notes(nwb)
    assert rate == 5.0 and notes["export"]["fps"] == 5.0
    assert notes["export"]["fps_source"] == "session"
    assert main(["export-nwb", str(session), "-o", str(nwb), "--no-prompt", "--fps", "20"]) == 0
    notes, rate = _notes(nwb)
    assert rate == 20.0 and notes["export"]["fps"] == 20.0  # used, with a warning
    assert notes["export"]["fps_source"] == "export"

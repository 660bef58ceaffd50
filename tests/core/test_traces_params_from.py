"""`catrack traces --params-from SESSION` takes every stored traces option that is a command-line
option: the extraction values (ratio, background, dF/F baseline) and the cleaning (whether the
traces were cleaned and with which values), options given on the command line winning."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.signals.params import TracesParams
from napari_catrack.session import Session

from . import test_traces
from .test_traces import _cli, _write_recording, tracks_for

scene = test_traces.scene  # the fixture: two neurons with known activity

TUNED = [
    "--no-ratio", "--baseline", "running", "--baseline-window", "4", "--radius", "2.5",
    "--clean", "--clean-steps", "drift,savgol", "--drift-cutoff", "3", "--drift-method",
    "highpass", "--savgol-window", "0.8", "--savgol-polyorder", "3",
]  # fmt: skip


def _traces_command(scene, tmp_path) -> tuple[list, object]:
    """`catrack traces` on the scene's recording and tracks (argv so far), and the tuned
    session's path."""
    green, red, centres, _ = scene
    rec = _write_recording(tmp_path, green, red)
    tracks = tmp_path / "tracks.csv"
    tracks_for(centres).to_csv(tracks, index=False)
    return [
        "traces",
        rec,
        "--tracks",
        tracks,
        "--fps",
        5,
        "--no-align",
    ], tmp_path / "tuned.catrack.h5"


def _params(path) -> dict:
    return Session.read_provenance(path)["steps"]["traces"]["params"]


def test_the_values_used_are_the_sessions_and_the_command_line_wins(scene, tmp_path, capsys):
    base, tuned = _traces_command(scene, tmp_path)
    assert _cli([*base, *TUNED, "-o", tmp_path / "a.csv", "--session", tuned]) == 0
    want = _params(tuned)
    assert want["cleaning_params"]["drift_cutoff_s"] == 3.0  # the session is what was asked
    capsys.readouterr()

    again = tmp_path / "again.catrack.h5"
    code = _cli([*base, "-o", tmp_path / "b.csv", "--params-from", tuned, "--session", again])
    err = capsys.readouterr().err
    assert code == 0, err
    got = _params(again)
    for name in TracesParams().to_dict():
        assert got[name] == want[name], name
    assert got["cleaning_params"] == want["cleaning_params"]
    assert [s["name"] for s in got["cleaning"]["steps"]] == ["drift", "savgol"]
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    np.testing.assert_array_equal(a["dff_clean"], b["dff_clean"])  # the same cleaning ran
    assert "tuned.catrack.h5's traces were cleaned: cleaning on, with steps=drift,savgol" in err

    # options given win, the rest still come from the session
    over = tmp_path / "over.catrack.h5"
    code = _cli([*base, "-o", tmp_path / "c.csv", "--params-from", tuned, "--session", over,
                 "--drift-cutoff", "7", "--ratio"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    got = _params(over)
    assert got["cleaning_params"] == {**want["cleaning_params"], "drift_cutoff_s": 7.0}
    assert got["use_ratio"] is True and got["dff_baseline"] == "running"
    assert "this command line's drift_cutoff_s over tuned.catrack.h5's" in err

    # --no-clean: the session's traces were cleaned, these are not
    plain = tmp_path / "d.csv"
    assert _cli([*base, "-o", plain, "--params-from", tuned, "--no-clean"]) == 0
    assert "dff_clean" not in pd.read_csv(plain).columns
    assert "cleaning off (--no-clean)" in capsys.readouterr().err


def test_a_session_whose_traces_were_not_cleaned_cleans_nothing(scene, tmp_path, capsys):
    base, tuned = _traces_command(scene, tmp_path)
    assert _cli([*base, "--radius", "2.5", "-o", tmp_path / "a.csv", "--session", tuned]) == 0
    out = tmp_path / "b.csv"
    assert _cli([*base, "-o", out, "--params-from", tuned, "--drift-cutoff", "9"]) == 0
    assert "dff_clean" not in pd.read_csv(out).columns
    assert "cleaned" not in capsys.readouterr().err

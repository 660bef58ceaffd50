"""`--session`'s help says what each command makes the session's recording (h19: `catrack
transients` and `catrack ensembles` said "created when missing, with REC as its recording" and
offered `--relink` ("make REC its recording"), but take no REC: they read a table)."""

from __future__ import annotations

import pytest

from napari_catrack.cli import build_parser


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and command in a.choices)
    return " ".join(sub.choices[command].format_help().split())


@pytest.mark.parametrize("command", ["transients", "ensembles"])
def test_table_commands_name_no_recording(command):
    text = _help(command)
    assert "REC" not in text and "--relink" not in text
    assert "a missing one is created without a recording" in text


def test_movie_commands_keep_rec_and_relink():
    text = _help("traces")
    assert "with REC as its recording" in text and "make REC its recording" in text
    text = _help("import")
    assert "with MOVIE as its recording (imagej; another tool's output gives none)" in text
    assert "make MOVIE its recording" in text and "REC" not in text


BEHAVIOUR = ["segment", "centerline", "velocity"]


@pytest.mark.parametrize("command", BEHAVIOUR)
def test_behaviour_commands_promise_no_refusal(command):
    """They take any session (`session_from_args(..., check=False)`: the behaviour video is not
    the imaging recording); the help said "refused if it refers to another recording" and
    offered a --relink that did nothing (h19)."""
    text = _help(command)
    assert "an existing one takes it whatever its recording" in text
    assert "refused" not in text and "--relink" not in text


def test_behaviour_commands_record_into_another_recordings_session(tmp_path, capsys):
    """What the help says: a session of an imaging recording (on disk) takes each step."""
    import numpy as np
    import tifffile

    from napari_catrack.cli import main
    from napari_catrack.io.video import write_video
    from napari_catrack.session import Session
    from tests.core._behaviour_helpers import small_video

    v = small_video()
    video = write_video(tmp_path / "worm.avi", v.frames[:6], fps=v.fps)
    v.stage_table().iloc[:6].to_csv(tmp_path / "stage.csv", index=False)
    imaging = tmp_path / "imaging.tif"
    tifffile.imwrite(imaging, np.zeros((3, 8, 8), np.uint16), photometric="minisblack")
    path = tmp_path / "day1.catrack.h5"
    s = Session(path, autosave=False)
    s.set_recording(str(imaging), {}, {"frames": 3, "height": 8, "width": 8})
    s.save(path)
    y, x = v.truth.centerline[0, 50]
    masks, cl = tmp_path / "m.tif", tmp_path / "cl.csv"
    common = ["--session", str(path)]
    assert main(["segment", str(video), "--prompt", f"{y:.1f},{x:.1f}", "--method", "classical",
                 "-o", str(masks), *common]) == 0  # fmt: skip
    assert main(["centerline", str(video), "--masks", str(masks), "-o", str(cl), *common]) == 0
    assert main(["velocity", "--stage", str(tmp_path / "stage.csv"), "--centerline", str(cl),
                 "--pixel-size", "10", "--recording", str(video), "-o", str(tmp_path / "v.csv"),
                 *common]) == 0  # fmt: skip
    again = Session.load(path)
    try:
        assert {"segmentation", "centerline", "velocity"} <= set(again.steps)
        assert again.recording["path"] == str(imaging)  # still the imaging recording's session
    finally:
        again.close()

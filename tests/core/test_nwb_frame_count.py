"""NWB export of a session whose recording summary has no frame count (h22): the behaviour video
was said to be "not on disk" (it was there), and the imaging was left out without a word."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main

pytest.importorskip("pynwb")


def _without_frame_count(session_path) -> None:
    from napari_catrack.session import Session

    s = Session.load(session_path)
    summary = dict(s.recording["summary"])
    summary.pop("frames")
    s.set_recording(s.recording["path"], s.recording.get("options") or {}, summary)
    s.save()
    s.close()


def _imaging_session(folder):
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session

    folder.mkdir(parents=True, exist_ok=True)
    movie = np.random.default_rng(0).integers(0, 50, (12, 16, 20)).astype(np.uint16)
    path = write_movie_tiff(folder / "movie.tif", movie)
    session = Session(folder / "movie.catrack.h5", autosave=False)
    session.set_recording(str(path), {}, {"frames": 12, "height": 16, "width": 20, "channels": 1,
                                          "fps": 10.0})  # fmt: skip
    tracks = pd.DataFrame({"neuron_id": 1, "frame": np.arange(12), "y": 8.0, "x": 10.0})
    session.record("tracks", tables={"tracks": tracks})
    session.save()
    return session.path


def test_imaging_without_a_frame_count_is_said_not_left_out_silently(tmp_path, capsys):
    from pynwb import NWBHDF5IO

    session = _imaging_session(tmp_path / "s")
    _without_frame_count(session)
    out = tmp_path / "a.nwb"
    assert main(["export-nwb", str(session), "-o", str(out), "--no-prompt"]) == 0
    err = capsys.readouterr().err
    assert (
        f"the session's record of the recording {tmp_path / 's' / 'movie.tif'} has no frame "
        "count (its recording summary lacks `frames`), so the series' length is unknown; "
        "imaging not linked"
    ) in err
    assert "not on disk" not in err
    with NWBHDF5IO(str(out), "r") as io:
        assert "Imaging" not in io.read().acquisition
    assert main(["export-nwb", str(session), "-o", str(tmp_path / "b.nwb"), "--no-prompt",
                 "--embed-imaging"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "cannot embed the imaging: the session's record of the recording" in err
    assert "no frame count" in err and "not on disk" not in err
    assert not (tmp_path / "b.nwb").exists()


def test_a_behaviour_video_without_a_frame_count_is_not_said_to_be_missing(tmp_path, capsys):
    from tests.core._behaviour_helpers import segmented_video_session

    session = segmented_video_session(tmp_path)
    _without_frame_count(session)
    capsys.readouterr()
    assert main(["export-nwb", str(session), "-o", str(tmp_path / "s.nwb"), "--no-prompt"]) == 0
    err = capsys.readouterr().err
    assert "the session's record of " in err and "worm.avi has no frame count" in err
    assert "video not linked" in err
    assert "not on disk" not in err  # the video is there


def test_a_frame_folder_the_reader_now_refuses_is_not_called_missing(tmp_path, capsys):
    """A recording that is on disk but cannot be read as recorded (here a frame folder whose
    second frame became a different size) is said with the reader's reason, not "is not on
    disk" (h22; the old code said "not on disk" for any reason)."""
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        write_movie_tiff(frames / f"f{i:03d}.tif", np.zeros((1, 16, 20), np.uint16))
    session = Session(tmp_path / "frames.catrack.h5", autosave=False)
    session.set_recording(str(frames), {}, {"frames": 3, "height": 16, "width": 20,
                                            "channels": 1, "fps": 10.0})  # fmt: skip
    tracks = pd.DataFrame({"neuron_id": 1, "frame": np.arange(3), "y": 8.0, "x": 10.0})
    session.record("tracks", tables={"tracks": tracks})
    session.save()
    write_movie_tiff(frames / "f001.tif", np.zeros((1, 8, 8), np.uint16))  # another size now
    out = tmp_path / "a.nwb"
    assert main(["export-nwb", str(session.path), "-o", str(out), "--no-prompt"]) == 0
    err = capsys.readouterr().err
    assert f"the recording {frames} cannot be read as recorded (" in err
    assert "f001.tif" in err and "not on disk" not in err

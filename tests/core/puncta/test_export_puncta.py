"""`catrack export` of a puncta session writes what `catrack puncta` writes: events.csv with
start_s,end_s, calcium.csv, the two figures, and offers the NWB file (h22)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.io.camera import write_camera
from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.synthetic.puncta import make_puncta_recording

FPS = 20.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A movie that states no frame rate, analysed with --fps into a session (the session
    keeps the rate), and the session exported whole."""
    tmp = tmp_path_factory.mktemp("puncta_export")
    rec = make_puncta_recording(shape=(48, 48), n_frames=25, seed=4)
    write_movie_tiff(tmp / "rec.tif", rec.puncta, rec.calcium)
    write_camera(rec.camera, tmp / "camera.json")
    session = tmp / "s.catrack.h5"
    assert main(["puncta", str(tmp / "rec.tif"), "--pixel-size-nm", "108", "--camera",
                 str(tmp / "camera.json"), "--fps", str(FPS), "-o", str(tmp / "out"),
                 "--figures", str(tmp / "figs"), "--session", str(session)]) == 0  # fmt: skip
    assert main(["export", str(session), "-o", str(tmp / "exp")]) == 0
    return tmp, session


def test_the_exported_calcium_and_events_tables_are_the_commands(run):
    """The export wrote no calcium.csv, and its events.csv lacked the command's start_s,end_s:
    now both are the command's files, byte for byte, the contract's columns first."""
    tmp, _ = run
    for name in ("calcium.csv", "events.csv"):
        exported = (tmp / "exp" / "puncta" / name).read_text()
        assert exported == (tmp / "out" / name).read_text(), name
    calcium = pd.read_csv(tmp / "exp" / "puncta" / "calcium.csv")
    assert list(calcium.columns) == ["track_id", "frame", "probability", "event", "time_s"]
    assert len(calcium) and np.allclose(calcium.time_s, calcium.frame / FPS)
    events = pd.read_csv(tmp / "exp" / "puncta" / "events.csv")
    assert list(events.columns)[-2:] == ["start_s", "end_s"]
    assert len(events) and np.allclose(events.start_s, events.start_frame / FPS)
    assert np.allclose(events.end_s, events.end_frame / FPS)


def test_the_export_draws_the_commands_puncta_figures(run):
    """`catrack puncta --figures` draws precision_photons and calcium_raster; the export drew
    neither. Now it draws them with the same builder, from the session: the raster's red cells
    are the calcium.csv events, its time axis the movie's 25 frames at the session's rate."""
    from napari_catrack.export.figures import build_figure
    from napari_catrack.session import Session

    tmp, session = run
    for name in ("precision_photons", "calcium_raster"):
        assert (tmp / "figs" / f"{name}.svg").is_file()
        assert (tmp / "exp" / "figures" / f"{name}.svg").is_file()
    s = Session.load(session)
    try:
        raster = build_figure(s, "calcium_raster").axes[0]
        image = np.asarray(raster.images[0].get_array())
        calcium = pd.read_csv(tmp / "exp" / "puncta" / "calcium.csv")
        assert (image == 2).sum() == calcium.event.sum() > 0
        assert (image >= 1).sum() == len(calcium)
        assert raster.images[0].get_extent()[:2] == [0, 25 / FPS]
        assert raster.get_xlabel() == "time (s)"
        precision = build_figure(s, "precision_photons")
        assert "nm" in precision.axes[0].get_title()
    finally:
        s.close()


def test_a_puncta_session_offers_and_writes_the_nwb_file(run, capsys):
    """`catrack export --items nwb` refused a puncta-only session ("the session holds no
    'nwb'") though `catrack export-nwb` writes it (its imaging, linked): now it is an item."""
    pytest.importorskip("pynwb")
    from pynwb import NWBHDF5IO

    tmp, session = run
    capsys.readouterr()
    assert main(["export", str(session), "--list"]) == 0
    assert any(line.split()[:2] == ["nwb", "session.nwb"]
               for line in capsys.readouterr().out.splitlines())  # fmt: skip
    assert main(["export", str(session), "-o", str(tmp / "nwb"), "--items", "nwb"]) == 0
    with NWBHDF5IO(str(tmp / "nwb" / "session.nwb"), "r") as io:
        assert io.read().acquisition["ImagingGreen"].rate == FPS
    # and the whole export wrote it too
    assert (tmp / "exp" / "session.nwb").is_file()


def test_the_puncta_tables_are_timed_at_the_rate_the_nwb_file_and_figures_get(run, tmp_path):
    """A puncta session that states no rate, exported with `--fps`: its events' and calcium's
    times are at that rate, as the figures' and the NWB file's are (one rule, h22; the tables
    were left without times while the figures beside them were timed)."""
    import shutil

    from napari_catrack.session import Session

    _tmp, session = run
    copy = tmp_path / "norate.catrack.h5"
    shutil.copy(session, copy)
    s = Session.load(copy)
    s["puncta"].attrs.pop("fps", None)
    s.recording.get("summary", {}).pop("fps", None)
    s.save()
    assert s.frame_rate() is None
    s.close()
    out = tmp_path / "exp"
    assert main(["export", str(copy), "-o", str(out), "--items",
                 "puncta:events,puncta:calcium,nwb", "--fps", "10"]) == 0  # fmt: skip
    events = pd.read_csv(out / "puncta" / "events.csv")
    assert len(events) and np.allclose(events["start_s"], (events["start_frame"]) / 10.0)
    calcium = pd.read_csv(out / "puncta" / "calcium.csv")
    assert np.allclose(calcium["time_s"], calcium["frame"] / 10.0)

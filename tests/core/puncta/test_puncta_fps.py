"""`catrack puncta --fps`: the per-punctum calcium gets a time axis also for a movie that states
no frame rate; the rule of every command (--fps, else the session's, else the file's) (h21)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.io.camera import write_camera
from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.synthetic.puncta import make_puncta_recording


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("puncta_fps")
    rec = make_puncta_recording(shape=(40, 40), n_frames=20, seed=4)
    write_movie_tiff(tmp / "norate.tif", rec.puncta, rec.calcium)
    write_movie_tiff(tmp / "rate.tif", rec.puncta, rec.calcium, fps=50.0)
    write_camera(rec.camera, tmp / "camera.json")
    return tmp


def _puncta(files, movie, out, *extra):
    return main(["puncta", str(files / movie), "--pixel-size-nm", "108", "--camera",
                 str(files / "camera.json"), "-o", str(out), *extra])  # fmt: skip


def test_fps_gives_the_calcium_and_events_tables_their_times(files, tmp_path, capsys):
    from napari_catrack.session import Session

    session = tmp_path / "s.catrack.h5"
    assert _puncta(files, "norate.tif", tmp_path / "out", "--fps", "20",
                   "--session", str(session)) == 0  # fmt: skip
    calcium = pd.read_csv(tmp_path / "out" / "calcium.csv")
    # the contract's columns first, in their order; the time after them
    assert list(calcium.columns) == ["track_id", "frame", "probability", "event", "time_s"]
    assert len(calcium) and np.allclose(calcium.time_s, calcium.frame / 20.0)
    events = pd.read_csv(tmp_path / "out" / "events.csv")
    assert list(events.columns)[-2:] == ["start_s", "end_s"]
    assert len(events) and np.allclose(events.start_s, events.start_frame / 20.0)
    assert np.allclose(events.end_s, events.end_frame / 20.0)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["fps"] == 20.0 and summary["fps_source"] == "--fps"
    # the session keeps the rate: export-nwb and the widgets' time axes read it from there
    assert Session.load(session).frame_rate() == 20.0
    assert Session.load(session)["puncta"].attrs["fps"] == 20.0
    capsys.readouterr()
    # run again on that session without --fps: the session's rate, said on stderr
    assert _puncta(files, "norate.tif", tmp_path / "again", "--session", str(session)) == 0
    assert "catrack puncta: frame rate 20 Hz, from the session" in capsys.readouterr().err
    again = pd.read_csv(tmp_path / "again" / "calcium.csv")
    assert np.allclose(again.time_s, again.frame / 20.0)


def test_without_a_rate_the_times_are_empty_and_said(files, tmp_path, capsys):
    assert _puncta(files, "norate.tif", tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "no frame rate in the file or the session and no --fps" in err
    calcium = pd.read_csv(tmp_path / "out" / "calcium.csv")
    assert "time_s" in calcium.columns and calcium.time_s.isna().all()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["fps"] is None


def test_the_files_rate_is_used_and_a_contradicting_fps_is_said(files, tmp_path, capsys):
    assert _puncta(files, "rate.tif", tmp_path / "a") == 0
    assert "catrack puncta: frame rate 50 Hz, from the file" in capsys.readouterr().err
    calcium = pd.read_csv(tmp_path / "a" / "calcium.csv")
    assert np.allclose(calcium.time_s, calcium.frame / 50.0)
    assert _puncta(files, "rate.tif", tmp_path / "b", "--fps", "25") == 0
    err = capsys.readouterr().err
    assert (
        "catrack puncta: warning: --fps 25 differs from the 50 Hz of the file; using --fps" in err
    )
    calcium = pd.read_csv(tmp_path / "b" / "calcium.csv")
    assert np.allclose(calcium.time_s, calcium.frame / 25.0)


@pytest.mark.parametrize("bad", ["0", "-5", "nan"])
def test_a_bad_fps_is_one_line(files, tmp_path, capsys, bad):
    with pytest.raises(SystemExit) as exc:  # argparse: refused before any work
        _puncta(files, "norate.tif", tmp_path / "x", "--fps", bad)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--fps" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "x").exists()


def test_figures_are_written_with_a_time_axis_at_the_rate(files, tmp_path, monkeypatch):
    """The figures the widget saves (precision + photons, the calcium raster) had no command-line
    way; `--figures DIR` writes them, the raster in seconds at --fps (frames without a rate)."""
    from napari_catrack.figures import puncta as puncta_figures

    axes = []
    raster = puncta_figures.calcium_raster_figure

    def spy(locs, n_frames, fps=None):
        fig = raster(locs, n_frames, fps)
        axes.append((fig.axes[0].get_xlabel(), fig.axes[0].get_xlim()))
        return fig

    monkeypatch.setattr(puncta_figures, "calcium_raster_figure", spy)
    figs = tmp_path / "figs"
    assert _puncta(files, "norate.tif", tmp_path / "out", "--fps", "20", "--figures", str(figs),
                   "--figure-format", "png") == 0  # fmt: skip
    assert sorted(p.name for p in figs.iterdir()) == ["calcium_raster.png", "precision_photons.png"]
    assert axes[-1][0] == "time (s)" and axes[-1][1][1] == pytest.approx(20 / 20.0)
    assert _puncta(files, "norate.tif", tmp_path / "out2", "--figures", str(tmp_path / "f2")) == 0
    assert axes[-1][0] == "frame" and axes[-1][1][1] == pytest.approx(20)
    assert (tmp_path / "f2" / "calcium_raster.svg").is_file()

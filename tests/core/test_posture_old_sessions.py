"""A posture table saved before session 20 (the Worm behaviour widget recorded it without a pixel
size) has no `length_um`: the readers (export, NWB, the widget) compute it from the pixel size of
the behaviour video the session stores, or say why the lengths are in px only (h21)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_catrack.core.behaviour import CenterlineResult
from napari_catrack.core.behaviour.posture import posture_table
from napari_catrack.core.behaviour.records import (
    behaviour_pixel_size_um,
    posture_from_session,
    record_centerline,
)
from napari_catrack.export import export_session
from napari_catrack.session import Session


def _old_widget_session(tmp_path, *, video_pixel: float | None):
    """What the widget saved before h20: posture without length_um, attrs posture pixel None,
    the centerlines computed on the session's own recording (a behaviour video's session)."""
    T, N = 5, 11
    x = np.linspace(0.0, 10.0, N)
    pts = np.stack([np.column_stack([np.full(N, float(t)), x * (1 + 0.1 * t)]) for t in range(T)])
    video = tmp_path / "worm.tif"
    tifffile.imwrite(video, np.zeros((T, 16, 16), np.uint8))
    session = Session(tmp_path / "worm.catrack.h5")
    session.set_recording(str(video), {}, {"frames": T, "pixel_size_um": video_pixel})
    result = CenterlineResult(pts, np.full(T, "ok", dtype=object), np.full(T, 10.0),
                              np.full(T, 3.0), np.full(T, 1.0))  # fmt: skip
    posture = posture_table(pts, usable=result.posture_ok).assign(status=result.status)
    assert "length_um" not in posture
    record_centerline(session, result, {}, posture=posture, inputs={"recording": str(video)},
                      posture_facts={"pixel_size_um": None, "eigenworms": None})  # fmt: skip
    session.save()
    return Session.load(tmp_path / "worm.catrack.h5"), posture["length_px"].to_numpy()


def test_an_old_posture_gets_length_um_from_the_videos_stored_pixel_size(tmp_path):
    """Fails on the old code: the exported posture.csv had no length_um (the column silently
    missing although the session states the video's 8 µm pixel)."""
    session, length_px = _old_widget_session(tmp_path, video_pixel=8.0)
    assert behaviour_pixel_size_um(session) == 8.0
    table, note = posture_from_session(session)
    assert note is None
    np.testing.assert_allclose(table["length_um"], length_px * 8.0)
    assert list(table.columns[:4]) == ["frame", "length_px", "mean_abs_curvature_per_px",
                                       "length_um"]  # where posture_table puts it  # fmt: skip
    assert "length_um" not in session["centerline"].tables["posture"]  # the session unchanged
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say
        export_session(session, tmp_path / "exp", ["behaviour:posture"])
    written = pd.read_csv(tmp_path / "exp" / "behaviour" / "posture.csv")
    np.testing.assert_allclose(written["length_um"], length_px * 8.0, rtol=1e-6)


def test_an_old_posture_without_any_pixel_size_says_its_lengths_are_px(tmp_path):
    """No pixel size anywhere in the session: the table is exported as it is, with a warning
    that names the missing column and how to get it. Fails on the old code (no warning)."""
    session, _ = _old_widget_session(tmp_path, video_pixel=None)
    assert behaviour_pixel_size_um(session) is None
    with pytest.warns(UserWarning, match="has no length_um .* lengths are in px only"):
        export_session(session, tmp_path / "exp", ["behaviour:posture"])
    written = pd.read_csv(tmp_path / "exp" / "behaviour" / "posture.csv")
    assert "length_um" not in written and len(written) == 5


def test_the_imaging_recordings_pixel_size_is_never_the_videos(tmp_path):
    """The session of an imaging recording (0.45 µm/px) with centerlines of another file (a
    behaviour camera): its recording's pixel size is not the video's."""
    session, _ = _old_widget_session(tmp_path, video_pixel=None)
    other = tmp_path / "imaging.tif"
    tifffile.imwrite(other, np.zeros((2, 4, 4), np.uint8))
    session.set_recording(str(other), {}, {"frames": 2, "pixel_size_um": 0.45})
    assert behaviour_pixel_size_um(session) is None
    assert posture_from_session(session)[1] is not None

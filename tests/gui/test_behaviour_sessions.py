"""Behaviour results of a session in a real napari.Viewer, without the Worm behaviour widget:
a separate behaviour video opened after (or before) its session brings the masks, centerline and
head layers (h13 item 1)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.core.behaviour.records import centerline_from_session

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
BEHAVIOUR = ("worm masks", "centerline", "worm head")


@pytest.fixture(scope="module")
def video():
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    return make_behaviour_video(16, shape=(96, 96), seed=7, pixel_size_um=16.0)


def _record(session, video, movie) -> None:
    """Masks and 50-point centerlines of `movie` (the behaviour video), as the steps record."""
    from napari_catrack.core.behaviour import CenterlineResult, frame_quality
    from napari_catrack.core.behaviour.centerline import resample
    from napari_catrack.core.behaviour.propagate import SegmentationResult
    from napari_catrack.core.behaviour.records import record_centerline, record_segmentation

    masks = video.truth.masks.astype(bool)
    T = len(masks)
    seg = SegmentationResult(masks, np.ones(T), np.full(T, "propagated"), np.zeros(T, int),
                             "classical", [])  # fmt: skip
    inputs = {"recording": str(movie)}
    record_segmentation(session, seg, {}, frame_quality(masks, np.ones(T)), inputs=inputs)
    pts = np.stack([resample(c, 50) for c in video.truth.centerline])
    result = CenterlineResult(pts, np.full(T, "ok", dtype=object), np.full(T, 100.0),
                              np.full(T, 8.0), np.full(T, 10.0))  # fmt: skip
    record_centerline(session, result, {}, inputs=inputs)


@pytest.fixture
def demo_like(video, tmp_path):
    """(session file, behaviour video file): an imaging recording plus a separate behaviour
    video with its results, as `catrack demo` writes."""
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session

    movie = write_movie_tiff(tmp_path / "worm.tif", video.frames)
    imaging = write_movie_tiff(tmp_path / "imaging.tif", np.zeros((12, 32, 32), np.uint16), fps=5.0)
    session = Session(tmp_path / "imaging.catrack.h5")
    session.set_recording(str(imaging), {}, {})
    _record(session, video, movie)
    session.save()
    session.close()
    return tmp_path / "imaging.catrack.h5", movie


def _kinds(viewer) -> dict[str, str]:
    return {lay.name: type(lay).__name__ for lay in viewer.layers}


@pytest.mark.parametrize("video_first", [False, True])
def test_a_separate_behaviour_video_brings_its_results_without_the_widget(
    make_napari_viewer, demo_like, video_first
):
    """The demo's masks appeared when its video was opened only while the Worm behaviour widget
    was docked; File > Open of the session and of the video (either order) now shows them."""
    from napari_catrack.session import Session

    path, movie = demo_like
    viewer = make_napari_viewer()
    for item in [movie, path] if video_first else [path, movie]:
        viewer.open(str(item), plugin=PLUGIN)
    kinds = _kinds(viewer)
    assert {n: kinds.get(n) for n in BEHAVIOUR} == {
        "worm masks": "Labels", "centerline": "Shapes", "worm head": "Points"}  # fmt: skip
    assert not any(name.endswith("[1]") for name in kinds), kinds  # one copy of each
    stored = Session.load(path)
    truth = centerline_from_session(stored)[0].points
    np.testing.assert_allclose(viewer.layers["worm head"].data[:, 1:], truth[:, 0])
    assert viewer.layers["worm masks"].data.shape == movie_shape(movie)
    viewer.open(str(movie), plugin=PLUGIN)  # opened again: no second copy of the results
    assert sum(name.startswith("worm masks") for name in _kinds(viewer)) == 1


def movie_shape(movie) -> tuple[int, ...]:
    import tifffile

    return tuple(tifffile.imread(movie).shape)

"""NWB export of a session made by `catrack segment VIDEO --session` alone (h20): its
recording is the behaviour video, not a calcium movie."""

from __future__ import annotations

import pytest

from napari_catrack.cli import main
from tests.core._behaviour_helpers import segmented_video_session, small_video

pytest.importorskip("pynwb")


def test_a_behaviour_video_session_is_exported_as_a_behaviour_video_not_as_gcamp_imaging(
    tmp_path,
):
    """A new user's walk on the WormPose frames (h20): `catrack segment worm.tif --session S`
    then `catrack export S` wrote the bright-field worm video as `acquisition/Imaging`, a
    OnePhotonSeries in an ImagingPlane with indicator "GCaMP". The video is now the
    `BehaviorVideo` ImageSeries, at the camera's rate, and the file has no imaging plane."""
    from pynwb import NWBHDF5IO

    v = small_video()
    session = segmented_video_session(tmp_path)
    out = tmp_path / "s.nwb"
    assert main(["export-nwb", str(session), "-o", str(out), "--no-prompt"]) == 0
    with NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert "Imaging" not in nwb.acquisition
        assert not nwb.imaging_planes
        assert "ophys" not in nwb.processing
        series = nwb.acquisition["BehaviorVideo"]
        assert series.external_file[0] == "worm.avi"
        assert series.rate == pytest.approx(v.fps)
        assert series.num_samples == 12

"""The puncta step end to end on the simulator: localisation, tracks, calcium, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.puncta.camera import CameraModel
from napari_catrack.core.puncta.link import link_localizations
from napari_catrack.core.puncta.params import PunctaParams
from napari_catrack.core.puncta.pipeline import analyse_puncta
from napari_catrack.errors import Cancelled, InputError
from napari_catrack.synthetic.puncta import make_puncta_recording
from napari_catrack.synthetic.puncta import match_to_truth as match


@pytest.fixture(scope="module")
def run():
    rec = make_puncta_recording(shape=(64, 64), n_frames=60, seed=11)
    res = analyse_puncta(rec.puncta, rec.calcium, rec.camera, PunctaParams())
    return rec, res


def test_localisation_matches_truth(run):
    rec, res = run
    truth, locs = rec.truth.emitters, res.localizations
    ti, li = match(truth, locs, 250 / 108)
    jaccard = len(ti) / (len(truth) + len(locs) - len(ti))
    assert jaccard > 0.9
    err = np.concatenate([locs.x.values[li] - truth.x.values[ti],
                          locs.y.values[li] - truth.y.values[ti]]) * 108  # fmt: skip
    assert abs(err.mean()) < 5
    assert np.median(np.abs(err)) < 3 * np.median(locs.uncertainty) * 108


def test_calcium_calls_at_puncta(run):
    rec, res = run
    truth, locs = rec.truth.emitters, res.localizations
    ti, li = match(truth, locs, 2.0)
    label = truth.calcium.values[ti]
    call = locs.calcium.values[li]
    assert label.sum() > 5
    assert (call[label == 1] == 1).mean() > 0.7
    assert (call[label == 0] == 0).mean() > 0.95
    assert res.stats["event_fraction_at_puncta"] > res.stats["event_fraction_at_controls"]
    assert len(res.events) > 0 and (res.events.frames >= 1).all()


def test_tables_follow_the_cli_contract(run):
    _, res = run
    ts = res.thunderstorm()
    assert list(ts.columns)[:4] == ["id", "frame", "x [nm]", "y [nm]"]
    assert ts["frame"].min() >= 1
    tracks = res.tracks_csv()
    assert list(tracks.columns) == ["track_id", "frame", "x_nm", "y_nm"]
    assert tracks.frame.min() >= 0
    calcium = res.calcium_csv()
    assert list(calcium.columns) == ["track_id", "frame", "probability", "event"]
    assert set(calcium.event.unique()) <= {0, 1}
    assert len(calcium) == len(tracks)


def test_gap_closing_joins_a_blinking_punctum():
    frames = [0, 1, 2, 5, 6, 7]  # off in frames 3 and 4
    locs = pd.DataFrame({"frame": frames, "x": np.linspace(10, 11, 6), "y": np.full(6, 20.0)})
    far = pd.DataFrame({"frame": [0, 1, 2], "x": [40.0] * 3, "y": [40.0] * 3})
    both = pd.concat([locs, far], ignore_index=True)
    ids = link_localizations(both, PunctaParams(gap_frames=2, min_track_length=3))
    assert ids[:6].nunique() == 1 and ids[6:].nunique() == 1 and ids[0] != ids[6]
    no_gap = link_localizations(both, PunctaParams(gap_frames=0, min_track_length=3))
    assert no_gap[:6].nunique() == 2


def test_bad_input_is_one_clear_line():
    rec = make_puncta_recording(shape=(32, 32), n_frames=4, seed=1)
    dark = np.full_like(rec.puncta, 90)  # everything below the 100 ADU offset
    with pytest.raises(InputError, match="no photons above the camera offset"):
        analyse_puncta(dark, rec.calcium, rec.camera)
    with pytest.raises(InputError, match="differ in shape"):
        analyse_puncta(rec.puncta, rec.calcium[:, :16], rec.camera)
    with pytest.raises(InputError, match="must be a \\(frames, height, width\\) movie"):
        analyse_puncta(rec.puncta[0], rec.calcium[0], rec.camera)
    with pytest.raises(InputError, match="too wide"):
        PunctaParams(psf_sigma_nm=1000, fit_radius=3)
    with pytest.raises(Cancelled):
        analyse_puncta(rec.puncta, rec.calcium, CameraModel(), cancel=lambda: True)


def test_puncta_only_and_progress():
    rec = make_puncta_recording(shape=(32, 32), n_frames=6, seed=1)
    seen = []
    res = analyse_puncta(rec.puncta, None, rec.camera, progress=lambda d, t, m="": seen.append(d))
    assert len(res.localizations) > 0 and res.localizations.calcium.sum() == 0
    assert seen[-1] == 100 and seen == sorted(seen)


def test_nan_after_the_first_chunk_is_refused_with_its_frame():
    """A NaN in frame 5 of a movie read in chunks of 4 used to pass (only the first chunk was
    checked) and silently wiped out every punctum of that frame; the calcium channel was never
    checked."""
    rec = make_puncta_recording(shape=(32, 32), n_frames=8, seed=1)
    params = PunctaParams(chunk_frames=4)
    puncta = rec.puncta.astype(np.float32)
    puncta[5, 3:6, 3:6] = np.nan
    with pytest.raises(InputError, match=r"puncta channel contains NaN .* in frame 5 \(0-based"):
        analyse_puncta(puncta, rec.calcium, rec.camera, params)
    calcium = rec.calcium.astype(np.float32)
    calcium[6, 0, 0] = np.inf
    with pytest.raises(InputError, match=r"calcium channel contains NaN .* in frame 6"):
        analyse_puncta(rec.puncta, calcium, rec.camera, params)


def test_blank_frames_are_named_in_a_warning():
    """Dropped (all-zero) frames used to pass silently: no puncta there, tracks broken."""
    rec = make_puncta_recording(shape=(32, 32), n_frames=10, seed=1)
    puncta = rec.puncta.copy()
    puncta[[2, 3, 7]] = 0
    with pytest.warns(UserWarning, match=r"3 of 10 frames .* \(frames 2-3, 7, 0-based\)"):
        res = analyse_puncta(puncta, rec.calcium, rec.camera, PunctaParams(chunk_frames=4))
    assert not set(res.localizations.frame) & {2, 3, 7}


def test_parameter_bounds_a_user_can_trip_over():
    """A calcium radius of 1e6 nm used to allocate 46 GiB (a MemoryError traceback); a pixel
    size in um typed as nm (1) was blamed on the fit radius alone."""
    with pytest.raises(InputError, match="calcium-radius-nm must be <= 1000"):
        PunctaParams(calcium_radius_nm=1e6)
    with pytest.raises(InputError, match="check the pixel size"):
        PunctaParams(pixel_size_nm=1)

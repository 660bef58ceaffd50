"""The puncta step end to end on the simulator: localisation, tracks, calcium, bad input."""

from __future__ import annotations

import itertools

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
    assert list(calcium.columns) == ["track_id", "frame", "probability", "event", "time_s"]
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
    with pytest.raises(InputError, match=r"the puncta channel is empty: shape \(0, 32, 32\)"):
        analyse_puncta(rec.puncta[:0], rec.calcium[:0], rec.camera)
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
    # 1080 typed for 108: 0 localisations and numpy's "overflow encountered in det" before
    with pytest.raises(InputError, match=r"only 0.12 px at 1080 nm per pixel, too narrow"):
        PunctaParams(pixel_size_nm=1080)
    assert PunctaParams(pixel_size_nm=400).psf_sigma_px > 0.3  # undersampled, still allowed


def test_link_distance_and_track_length_have_upper_bounds_with_the_reason():
    """Neither had an upper bound: a link distance of metres or a minimum track length past the
    movie's end ran (slowly, or dropping every track without a word)."""
    with pytest.raises(InputError, match=r"link-distance-nm must be <= 5000.0; got 9000.0: puncta "
                       r"lie about 1 um apart"):  # fmt: skip
        PunctaParams(link_distance_nm=9000)
    with pytest.raises(InputError, match=r"min-track-length must be <= 100000; got 100001: a "
                       r"track holds at most one localisation per frame"):  # fmt: skip
        PunctaParams(min_track_length=100_001)
    assert PunctaParams(link_distance_nm=5000, min_track_length=100_000).min_track_length > 0
    rec = make_puncta_recording(shape=(32, 32), n_frames=10, seed=1)
    with pytest.raises(InputError, match=r"--min-track-length 11 keeps no track: .* the movie "
                       r"has 10 frames"):  # fmt: skip
        analyse_puncta(rec.puncta, rec.calcium, rec.camera, PunctaParams(min_track_length=11))
    res = analyse_puncta(rec.puncta, None, rec.camera, PunctaParams(min_track_length=10))
    assert res.stats["localizations"] > 0  # a track over every frame is still allowed


def test_step_warnings_are_collected_in_their_own_thread_only():
    """The widget caught the step's warnings with warnings.catch_warnings in its worker thread:
    process-wide, so a warning from any other thread during the run was shown as the step's."""
    import threading
    import warnings

    from napari_catrack.core.puncta.localize import step_warnings, warn_blank_frames

    def other():
        with warnings.catch_warnings(record=True) as elsewhere:
            warnings.simplefilter("always")
            warn_blank_frames([0], 5)  # the same step's warning, from another thread: not ours
            warnings.warn("another thread's warning", UserWarning, stacklevel=1)
        other.heard = [str(w.message) for w in elsewhere]

    with step_warnings() as said:
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        warn_blank_frames([2, 3], 10)
    assert said == [said[0]] and said[0].startswith("2 of 10 frames")
    assert other.heard[0].startswith("1 of 5 frames") and len(other.heard) == 2
    with pytest.warns(UserWarning, match="1 of 4 frames"):  # outside a collection: a warning
        warn_blank_frames([1], 4)


def test_figures_photon_ticks_readable_and_raster_counts_explained():
    """The photon histogram labelled every minor tick of a one-decade range (3x10^2, 4x10^2,
    ...: the labels ran into each other); the raster's count of calcium frames differed from the
    statistics' with no word why (untracked localisations are not in the raster)."""
    from napari_catrack.figures.puncta import calcium_raster_figure, precision_photons_figure

    rng = np.random.default_rng(0)
    locs = pd.DataFrame({"uncertainty": rng.uniform(0.03, 0.1, 300),
                         "photons": rng.uniform(350, 3000, 300)})  # fmt: skip
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for top in (3000, 1000):  # one decade; under 3x (linear ticks there)
        locs["photons"] = rng.uniform(350, top, 300)
        fig = precision_photons_figure(locs, 108)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        ax = fig.axes[1]
        lo, hi = ax.get_xlim()
        labels = [t for t in ax.xaxis.get_majorticklabels() + ax.xaxis.get_minorticklabels()
                  if t.get_text() and lo <= t.get_position()[0] <= hi]  # fmt: skip
        assert len(labels) >= 2 and all("times" not in t.get_text() for t in labels)
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        assert all(a.x1 <= b.x0 for a, b in itertools.pairwise(boxes))  # no two labels overlap
    calls = pd.DataFrame({"track_id": [0, 0, -1], "frame": [0, 1, 2], "calcium": [1, 0, 1]})
    title = calcium_raster_figure(calls, 3).axes[0].get_title()
    assert "1 punctum-frames with a signal" in title and "1 more in localisations without" in title

"""The size check of a peak a neuron takes (`TrackParams.size_ratio`, `size_jump`; h17).

Ground truth is built into each movie: where the neuron is, where the blob that is not the
neuron is, and their sizes. `size_ratio=0` is the tracker before the check (the same tables).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.tracking import TrackParams, track
from napari_catrack.core.tracking.shape import blob_scale
from napari_catrack.errors import InputError
from napari_catrack.synthetic.tracking_cases import make_calcium_tracking_case

PLACES = {"a": (12.0, 12.0), "b": (15.0, 48.0), "c": (48.0, 48.0), "f": (40.0, 22.0)}
BLOB = (40.0, 25.5)  # 3.5 px from f's place: within the 5 px take-back radius


def _spot(yy, xx, y, x, amp, sd):
    return amp * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sd**2))


def _lost_neuron_and_a_wider_blob(T: int = 60, seed: int = 0):
    """Four neurons of s.d. 1.7 px, "f" a faint one that goes dark at frame 10; from frame 30 a
    blob of s.d. 4.5 px (another cell, or two merged in a projection) at 0.8x f's peak 3.5 px from
    f's place: within the take-back radius and the brightness band of either rule set."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    movie = np.empty((T, 64, 64), np.float32)
    for t in range(T):
        img = 10.0 + rng.normal(0, 0.5, (64, 64))
        for k, (y, x) in PLACES.items():
            if k != "f" or t < 10:
                img += _spot(yy, xx, y, x, 30.0 if k == "f" else 100.0, 1.7)
        if t >= 30:
            img += _spot(yy, xx, *BLOB, 24.0, 4.5)
        movie[t] = img
    seeds = pd.DataFrame({"neuron_id": list(PLACES), "y": [p[0] for p in PLACES.values()],
                          "x": [p[1] for p in PLACES.values()]})  # fmt: skip
    return movie, seeds


@pytest.mark.parametrize("channel", ["red", "green"])
def test_a_lost_neuron_is_not_taken_back_by_a_blob_of_another_size(channel):
    """Without the size check f is taken back by the wider blob (of its brightness, near its
    place) and sits on it `tracked` at good confidence, out of the review list; with it f
    stays lost at its held place (confidence 0: listed)."""
    movie, seeds = _lost_neuron_and_a_wider_blob()
    rec = (movie, None) if channel == "red" else (None, movie)
    f = {}
    for name, ratio in (("old", 0.0), ("new", TrackParams().size_ratio)):
        out = track(*rec, seeds, 0, channel=channel, params=TrackParams(size_ratio=ratio))
        f[name] = out[out.neuron_id == "f"].set_index("frame").sort_index()
    on_blob = lambda a: np.hypot(a.y - BLOB[0], a.x - BLOB[1]).to_numpy() < 1.5  # noqa: E731
    assert on_blob(f["old"])[32:].all()  # the old tracker: f on the other blob
    new = f["new"]
    assert not on_blob(new)[30:].any()
    assert (new.status.to_numpy()[30:] == "lost").all()
    assert (new.confidence.to_numpy()[30:] == 0).all()
    at_place = np.hypot(new.y - PLACES["f"][0], new.x - PLACES["f"][1]).to_numpy()
    assert (at_place[30:] < 1.0).all()


def test_a_neuron_whose_own_blob_brightens_is_still_followed():
    """A calcium transient changes a blob's brightness, not its size: b (10x at frame 70) and
    the returning r (dark 20-44, back during its own 12x transient: a take-back, always size
    checked) are followed as without the check."""
    case = make_calcium_tracking_case(seed=0)
    out = track(None, case.movie, case.seeds, 0, channel="green")
    for name, frames in (("b", range(68, 100)), ("r", range(47, 120))):
        j = case.ids.index(name)
        a = out[out.neuron_id == name].set_index("frame").sort_index()
        err = np.hypot(a.y - case.truth[:, j, 0], a.x - case.truth[:, j, 1]).to_numpy()
        assert (err[list(frames)] < 2.0).all(), (name, err[list(frames)].max())
        assert (a.status.to_numpy()[list(frames)] == "tracked").all()


def test_blob_scale_reads_a_gaussian_blobs_size():
    yy, xx = np.mgrid[:80, :80]
    for sd in (1.5, 2.5, 4.0):
        img = 5.0 + _spot(yy, xx, 40, 40, 50.0, sd)
        assert blob_scale(img, np.array([[40, 40]]))[0] == pytest.approx(sd, rel=0.1)
    assert np.isnan(blob_scale(np.full((40, 40), 3.0), np.array([[20, 20]]))[0])


@pytest.mark.parametrize("ratio", [0.5, 0.99])
def test_a_size_ratio_below_one_is_refused(ratio):
    with pytest.raises(InputError, match="size-ratio"):
        TrackParams(size_ratio=ratio)


def test_a_users_lone_correction_on_a_dark_place_gives_the_neuron_no_size():
    """A known point sitting on no visible blob (ZephIR's neuron 22, dark where it was clicked)
    gives no size; that held for seeds, judged against the other seeds of their frame, but a
    user's correction is usually the only known point of its frame and was judged against
    itself: three clicks on f's dark place made its size the speck's (1 px, against its own
    blobs' 2 px), so a sweep refused its take-backs onto its own blob (an end-to-end effect
    was not shown: the other direction's sweep may cover it). Judged against the other
    neurons' running brightness, it gives none; a correction on a visible neuron still does."""
    from scipy.ndimage import gaussian_filter

    from napari_catrack.core.tracking.tracker import _SizeMemory

    movie, _seeds = _lost_neuron_and_a_wider_blob(T=12)
    img = gaussian_filter(movie[11].astype(float), 1.0)  # f dark since frame 10
    bg, brightness = 10.0, np.array([100.0, 100.0, 100.0, 30.0])  # a, b, c, f
    f_place = np.array([PLACES["f"]])
    sizes = _SizeMemory(4)
    for _ in range(3):  # three corrections of f alone
        sizes.remember_known(img, f_place, np.array([3]), bg, brightness[:3])
    assert sizes.count[3] == 0  # (before: 3, and f's template 1 px)
    sizes.remember_known(img, np.array([PLACES["a"]]), np.array([0]), bg, brightness[1:])
    assert sizes.count[0] == 1
    assert 1.5 < np.exp(sizes.buf[0, 0]) < 3.0  # a's own blob (s.d. 1.7 px, smoothed)


def test_a_correction_on_a_dark_place_gives_no_size_where_no_other_neuron_has_started():
    """The sweep backward from a correction later than the seeds starts at that correction,
    where no other neuron has started yet (their brightness all NaN): a click on f's dark place
    was judged against itself again, so each such correction gave f the scale of the speck
    beside it (1 px against its own blob's 2 px: three samples, a template, in that sweep).
    Judged against nothing but itself, a point gives no size; with the other neurons' brightness
    known it is judged as before."""
    from unittest import mock

    from napari_catrack.core.tracking import tracker

    movie, seeds = _lost_neuron_and_a_wider_blob(T=20)
    yy, xx = np.mgrid[:64, :64]
    movie[10:] += _spot(yy, xx, 41.0, 24.0, 15.0, 0.5).astype(np.float32)  # a speck by f
    anchors = pd.DataFrame({"neuron_id": ["f"] * 3, "frame": [14, 15, 16], "y": PLACES["f"][0],
                            "x": PLACES["f"][1]})  # fmt: skip
    given = []
    remember_known = tracker._SizeMemory.remember_known

    def spy(self, img, points, rows, bg, others=None):
        before = self.count.copy()
        remember_known(self, img, points, rows, bg, others)
        for r in np.flatnonzero(self.count > before):
            given.append((int(r), float(np.exp(self.buf[r, before[r] % tracker.SIZE_WINDOW]))))

    with mock.patch.object(tracker._SizeMemory, "remember_known", spy):
        track(movie, None, seeds, 0, anchors=anchors, params=TrackParams())
    f = [s for r, s in given if r == 3]
    assert f and min(f) > 1.5, f  # f's seed (visible at frame 0), never the speck
    assert len(f) == 2  # the seed, once per sweep


def test_a_known_points_size_comes_only_from_a_visible_blob():
    """Known points (seeds, the user's) take part in the frame's assignment, and the peak one
    was matched to went into the neuron's sizes as if the neuron had taken it: a click on f's
    dark place beside a speck (1.4 px away, within `size_jump`, so not size-checked) gave f the
    speck's scale (1 px) at each such correction, past the visibility rule of `remember_known`
    (the only way a known point's size is meant to be taken: SIZE_WINDOW). Now a known point's
    size comes from `remember_known` alone: f, dark at its corrected frames, gets none there."""
    from unittest import mock

    from napari_catrack.core.tracking import tracker

    movie, seeds = _lost_neuron_and_a_wider_blob(T=24)
    yy, xx = np.mgrid[:64, :64]
    movie[14:17] += _spot(yy, xx, 41.0, 23.0, 15.0, 0.5).astype(np.float32)
    anchors = pd.DataFrame({"neuron_id": ["f"] * 3, "frame": [14, 15, 16], "y": PLACES["f"][0],
                            "x": PLACES["f"][1]})  # fmt: skip
    remember, read = tracker._SizeMemory.remember, tracker._Frames.__call__
    now, given = [None], []

    def reading(self, t):  # the frame the sweep is on
        now[0] = t
        return read(self, t)

    def spy(self, rows, scales):
        given.extend((now[0], round(float(s), 2)) for r, s in zip(rows, scales) if r == 3)
        remember(self, rows, scales)

    with (
        mock.patch.object(tracker._SizeMemory, "remember", spy),
        mock.patch.object(tracker._Frames, "__call__", reading),
    ):
        track(movie, None, seeds, 0, anchors=anchors, params=TrackParams())
    assert [g for g in given if g[0] < 10], given  # f's own blob, before it went dark
    assert not [g for g in given if 14 <= g[0] <= 16], given  # (before: 1.0 px, three times)


def test_a_take_back_at_exactly_the_held_place_is_size_checked():
    """A take-back is always size checked (docs/tracking.md), but `_reacquire` passed the rule
    `jump=0.0` and `_match` checks only peaks farther than the jump: a blob whose peak sat
    exactly on the held place (distance 0) was taken back whatever its size. Here the held
    place is the integer peak of a wide blob (s.d. 4.5 px against a 2 px template): refused now
    (before: taken back)."""
    from scipy.ndimage import gaussian_filter

    from napari_catrack.core.tracking import tracker

    yy, xx = np.mgrid[:64, :64]
    img = gaussian_filter(10.0 + _spot(yy, xx, 32, 32, 24.0, 4.5), 1.0).astype(np.float32)
    params = TrackParams()
    for held in ((32.0, 32.0), (32.0, 33.5)):  # at the peak, and 1.5 px from it (refused before)
        out, _conf, amp = tracker._reacquire(
            img, np.array([held]), 10.0, 0.5, np.array([20.0]), params,
            exclude=np.zeros((0, 2), int), rows=np.array([0]),
            size=(np.array([2.0]), np.full(1, np.nan)),
        )  # fmt: skip
        assert not np.isfinite(amp[0]), held  # (before: taken at distance 0)
        assert tuple(out[0]) == held


def _brightness_seen(movie, seeds, anchors, neuron: int):
    """{frame: the running brightness of row `neuron` given to `_assign`} in the forward sweep."""
    from unittest import mock

    from napari_catrack.core.tracking import tracker

    assign, read = tracker._assign, tracker._Frames.__call__
    now, seen, last = [None], {}, [-1]

    def reading(self, t):
        now[0] = t
        return read(self, t)

    def spy(img, pred, bg, noise, ref_amp, params, owners=None, rows=None, size=None):
        if now[0] > last[0] and neuron in list(rows):  # forward sweep only
            seen[now[0]] = float(ref_amp[list(rows).index(neuron)])
            last[0] = now[0]
        return assign(img, pred, bg, noise, ref_amp, params, owners=owners, rows=rows, size=size)

    with (
        mock.patch.object(tracker, "_assign", spy),
        mock.patch.object(tracker._Frames, "__call__", reading),
    ):
        track(movie, None, seeds, 0, anchors=anchors, params=TrackParams())
    return seen


def test_a_known_point_on_a_dark_place_does_not_set_the_neurons_brightness():
    """Known points take part in the frame's assignment, and the peak one was matched to
    updated the neuron's running brightness: three clicks on f's dark place beside a speck
    (1.4 px away) pulled f's brightness towards the speck's (the neuron then takes specks'
    brightness as its own). A known point's brightness now counts only where it sits on a
    visible blob (the rule of its size, `remember_known`): f's brightness is unchanged by
    those corrections; a correction on a visible neuron still updates its brightness."""
    movie, seeds = _lost_neuron_and_a_wider_blob(T=24)
    yy, xx = np.mgrid[:64, :64]
    movie[14:17] += _spot(yy, xx, 41.0, 23.0, 15.0, 0.5).astype(np.float32)
    anchors = pd.DataFrame({"neuron_id": ["f"] * 3, "frame": [14, 15, 16], "y": PLACES["f"][0],
                            "x": PLACES["f"][1]})  # fmt: skip
    f = _brightness_seen(movie, seeds, anchors, 3)
    assert f[17] == pytest.approx(f[14]), f  # (before: 15.9 -> 12.1, towards the speck's ~3)
    # a correction on a visible neuron still counts: a, twice as bright at its corrected
    # frames, is brighter after them
    movie2, _ = _lost_neuron_and_a_wider_blob(T=24)
    movie2[14:17] += _spot(yy, xx, *PLACES["a"], 100.0, 1.7).astype(np.float32)
    a_moves = pd.DataFrame({"neuron_id": ["a"] * 3, "frame": [14, 15, 16],
                            "y": PLACES["a"][0], "x": PLACES["a"][1]})  # fmt: skip
    a = _brightness_seen(movie2, seeds, a_moves, 0)
    assert a[17] > 1.1 * a[14], a


def test_corrections_on_dark_places_at_a_sweeps_start_are_not_judged_against_each_other():
    """Where a sweep starts (the latest correction frame, backward), no other neuron has a
    running brightness yet: two clicks on dark places were judged against each other's median
    and both counted as visible (each neuron got its speck's size). A point is judged only
    against the brightness of more than half the neurons: seeds (every neuron) still are."""
    from scipy.ndimage import gaussian_filter

    from napari_catrack.core.tracking.tracker import _SizeMemory

    movie, _seeds = _lost_neuron_and_a_wider_blob(T=12)
    yy, xx = np.mgrid[:64, :64]
    img = movie[11].astype(float) + _spot(yy, xx, 41.0, 23.0, 15.0, 0.5)  # a speck by f
    img = gaussian_filter(img, 1.0)  # f dark since frame 10
    dark = np.array([PLACES["f"], (30.0, 30.0)])  # f's place and an empty one (a's correction)
    sizes = _SizeMemory(4)
    sizes.remember_known(img, dark, np.array([3, 0]), 10.0, np.full(2, np.nan))
    assert (sizes.count == 0).all()  # (before: f counted, its size the speck's)
    every = np.array(list(PLACES.values()))  # the seeds of all four at this frame
    sizes.remember_known(img, every, np.arange(4), 10.0, np.zeros(0))
    assert sizes.count.tolist() == [1, 1, 1, 0]  # f is dark: no size


def _seed_off_centre_then_dark(T: int = 40, dark=(2, 25)):
    """Four small neurons (s.d. 1.0 px); "f" (60 grey levels) is dark in frames `dark` and its
    seed is clicked 2 px off its centre. Returns (movie, seeds, f's centre)."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:64, :64]
    movie = np.empty((T, 64, 64), np.float32)
    for t in range(T):
        img = 10.0 + rng.normal(0, 0.5, (64, 64))
        for k, (y, x) in PLACES.items():
            if k != "f" or not dark[0] <= t < dark[1]:
                img += _spot(yy, xx, y, x, 60.0 if k == "f" else 100.0, 1.0)
        movie[t] = img
    seeds = pd.DataFrame({"neuron_id": list(PLACES), "y": [p[0] for p in PLACES.values()],
                          "x": [p[1] for p in PLACES.values()]})  # fmt: skip
    seeds.loc[seeds.neuron_id == "f", "y"] += 2.0  # the click: 2 px below f's centre
    return movie, seeds, PLACES["f"]


def test_a_seed_clicked_off_centre_starts_with_its_blobs_brightness():
    """A neuron's first running brightness was the pixel under the seed's click: 2 px off a
    small neuron's centre that is 0.37x its peak, so when the neuron went dark right after the
    seed and came back (the same brightness, the same place) its own peak was more than 2x that
    brightness and the take-back (REACQUIRE_BRIGHTNESS band) refused it: f stayed lost for good,
    its trace NaN. It now starts with the brightness of the blob the click lands on
    (`start_brightness`), and f is taken back when it returns."""
    from scipy.ndimage import gaussian_filter

    movie, seeds, centre = _seed_off_centre_then_dark()
    smooth = gaussian_filter(movie[0].astype(float), 1.0, truncate=3.0)
    f_peak = float(smooth[int(centre[0]), int(centre[1])] - 10.0)  # above the background
    seen = _brightness_seen(movie, seeds, None, 3)
    first = seen[min(seen)]
    assert first == pytest.approx(f_peak, rel=0.1), (first, f_peak)  # (before: 0.37x)
    out = track(movie, None, seeds, 0)
    f = out[out.neuron_id == "f"].set_index("frame").sort_index()
    assert (f.status.iloc[15:25] == "lost").all()  # dark: lost, held
    back = f.iloc[28:]
    assert (back.status == "tracked").all(), back.status.tolist()  # (before: lost to the end)
    assert (np.hypot(back.y - centre[0], back.x - centre[1]) < 0.5).all()


def test_start_brightness_is_the_peak_a_click_lands_on_not_a_neighbours_flank():
    """`start_brightness`: a click 2 px off a neuron's centre reads the neuron's peak; a click on
    a brighter neighbour's flank with no maximum of its own within 2 px (neurons overlapping in a
    projection) keeps the pixel under it. The brightest pixel within 2 px instead (`known_blobs`'
    `best`) gave ZephIR's neuron 19, annotated 4 px beside neuron 0, neuron 0's brightness and
    made the benchmark worse (99.4 -> 98.3 % of neuron-frames within 4 px)."""
    from napari_catrack.core.tracking.tracker import start_brightness

    yy, xx = np.mgrid[:40, :40]
    img = _spot(yy, xx, 10, 10, 50.0, 1.4) + _spot(yy, xx, 30, 26, 200.0, 1.4)
    img += _spot(yy, xx, 30, 30, 60.0, 1.4) + _spot(yy, xx, 10, 30, 80.0, 1.4)
    clicks = np.array([[12.0, 10.0], [30.0, 29.0], [10.0, 30.0]])  # off-centre; a flank; centred
    got = start_brightness(img, clicks, 0.0)
    assert got[0] == pytest.approx(50.0, rel=0.01)  # (the pixel under it: 18)
    assert got[1] == pytest.approx(img[30, 29], rel=1e-6)  # not the bright neighbour's flank
    assert got[2] == pytest.approx(80.0, rel=0.01)

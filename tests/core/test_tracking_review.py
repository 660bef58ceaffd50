"""The review list (`review_stretches`) ranks places by how likely they are wrong (h18).

Before, a place's severity was the confidence its low frames lack, whatever their `status`: a
neuron lost for the whole recording and held in the right place outranked a short stretch on the
wrong blob (ZephIR: 16 % of the failures in the first 10 places; docs/tracking.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.tracking import review_stretches, track


def _held_neuron_and_a_wrong_take_back(T: int = 480, seed: int = 0):
    """A green movie, two groups of neurons. Left: "a" (100 above background) is dark from
    frame 12 to the end, 7 px from a 10x brighter neighbour "e": lost and held in its place
    (right). Right: a faint "f" (20) is dark in frames 10-49 while an unowned blob 6x its
    brightness shines 4 px from its place in frames 30-49 (f is retaken on it: wrong); f is
    back at its place from frame 50. Nothing moves. Returns movie, seeds, true places."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:96, :160].astype(np.float32)

    def blob(y, x, amp):
        return amp * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.7**2))

    places = {"a": (48, 48), "b": (38, 48), "c": (58, 48), "d": (48, 38), "e": (48, 55),
              "g": (40, 110), "k": (15, 148), "l": (80, 148), "f": (40, 120)}  # fmt: skip
    steady = blob(38, 48, 100) + blob(58, 48, 100) + blob(48, 38, 100) + blob(48, 55, 1000)
    steady += blob(40, 110, 200) + blob(15, 148, 200) + blob(80, 148, 200)
    movie = np.empty((T, 96, 160), np.float32)
    for t in range(T):
        img = steady.copy()
        if t < 12:
            img += blob(48, 48, 100)
        if t < 10 or t >= 50:
            img += blob(40, 120, 20)
        if 30 <= t < 50:
            img += blob(40, 124, 120)
        movie[t] = img + rng.normal(0, 0.5, img.shape) + 10
    seeds = pd.DataFrame({"neuron_id": list(places), "y": [float(p[0]) for p in places.values()],
                          "x": [float(p[1]) for p in places.values()]})  # fmt: skip
    return movie, seeds, places


def _errors(out, places, nid):
    g = out[out.neuron_id == nid].set_index("frame").sort_index()
    y, x = places[nid]
    return np.hypot(g.y - y, g.x - x).to_numpy(), g.status.to_numpy()


def test_a_wrong_take_back_outranks_a_neuron_held_right_all_along():
    """Ground truth: a is held within 1 px of its place for 460 frames (lost: right), f sits on
    the other blob 4 px away in frames 30-49 (wrong). f's place must come first; a's place is
    still listed. Before h18 a's 460 low frames ranked it first (severity ~490 against ~310)."""
    movie, seeds, places = _held_neuron_and_a_wrong_take_back()
    out = track(None, movie, seeds, 0, channel="green")
    err_a, status_a = _errors(out, places, "a")
    err_f, status_f = _errors(out, places, "f")
    assert err_a.max() < 1.0 and (status_a[30:] == "lost").all()  # held, and right
    assert (err_f[30:50] > 3).all() and (status_f[30:50] == "tracked").all()  # on the other blob
    assert err_f[62:].max() < 0.5  # back on its own peak later
    review = review_stretches(out)
    first = review.iloc[0]
    assert first.neuron_id == "f" and first.start_frame <= 30 and first.end_frame >= 49, review
    assert first.poor_match_frames >= 20  # its frames on the other blob (tracked, low)
    held = review[review.neuron_id == "a"]
    assert len(held) == 1 and held.iloc[0].lost_frames >= 450  # listed, below: not dropped
    assert set(review.neuron_id) == {"a", "f"}


def _table(rows):
    """A tracks table from (neuron, frames, y, x, confidence, status) stretches."""
    parts = [pd.DataFrame({"neuron_id": n, "frame": np.arange(*fr), "y": y, "x": x,
                           "confidence": c, "source": "auto", "status": s})
             for n, fr, y, x, c, s in rows]  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def test_the_severity_weighs_each_low_frame_by_its_status():
    """400 lost frames held still (deficit 1 each, weight 0.25) against 20 frames on a peak at
    confidence 0.3 (deficit 0.4, weight 20): 100 against 160, no jumps. Before h18: 400 against
    8. Predicted frames weigh 1; a table without `status` reads it from the confidence."""
    tracks = _table([("held", (0, 400), 10.0, 10.0, 0.0, "lost"),
                     ("poor", (0, 20), 30.0, 30.0, 0.3, "tracked"),
                     ("poor", (20, 400), 30.0, 30.0, 0.9, "tracked"),
                     ("pred", (0, 50), 50.0, 50.0, 0.1, "predicted"),
                     ("pred", (50, 400), 50.0, 50.0, 0.9, "tracked")])  # fmt: skip
    review = review_stretches(tracks).set_index("neuron_id")
    assert list(review.index) == ["poor", "held", "pred"]
    assert review.severity.to_dict() == {"poor": 160.0, "held": 100.0, "pred": 40.0}
    assert review.loc["poor", "poor_match_frames"] == 20
    assert review.loc["held", "lost_frames"] == 400
    # a table from before `status` (h15): above the no-peak confidence 0.1 is tracked
    old = review_stretches(tracks.drop(columns="status")).set_index("neuron_id")
    assert old.loc["poor", "severity"] == 160.0 and old.loc["pred", "severity"] == 40.0
    assert old.loc["held", "severity"] == 400.0 and (old.lost_frames == 0).all()


def test_a_threshold_of_0_lists_nothing_and_every_caller_takes_it():
    """`--low-confidence` (the form's *low confidence*) may be 0: no frame is below it, so no
    place is listed. `review_stretches` refused 0 ("must be in (0, 1]"), so `catrack track
    --low-confidence 0` wrote its tracks and then exited 2 with that line, which named no option,
    and the Track widget's list and its worker raised (h19 review)."""
    from types import SimpleNamespace

    from napari_catrack.commands.track import result_line
    from napari_catrack.core.tracking.params import TrackParams

    tracks = _table([("a", (0, 30), 10.0, 10.0, 0.0, "lost"),
                     ("b", (0, 30), 20.0, 20.0, 0.3, "tracked")])  # fmt: skip
    review = review_stretches(tracks, threshold=0.0)
    assert list(review.columns) == list(review_stretches(tracks).columns) and len(review) == 0
    assert len(review_stretches(tracks, threshold=0.5)) == 2  # the same table, listed
    rec = SimpleNamespace(red=np.zeros((30, 4, 4)), green=np.zeros((30, 4, 4)), n_frames=30)
    line = result_line(tracks, rec, TrackParams(low_confidence=0.0), "tracks.csv")
    assert "0 place(s) to review (confidence < 0)" in line, line


def test_catrack_tracks_line_counts_lost_neuron_frames_as_such():
    """Two neurons lost at the same 20 frames of a 30-frame recording: the result line said
    "2 neuron(s) lost at 40 frame(s)", more frames than the recording has (it counted rows, one
    per neuron and frame)."""
    from types import SimpleNamespace

    from napari_catrack.commands.track import result_line
    from napari_catrack.core.tracking.params import TrackParams

    tracks = _table([(n, fr, 10.0 * k, 10.0, c, s) for k, n in enumerate("ab")
                     for fr, c, s in (((0, 10), 0.9, "tracked"), ((10, 30), 0.0, "lost"))])  # fmt: skip
    rec = SimpleNamespace(red=np.zeros((30, 4, 4)), green=np.zeros((30, 4, 4)), n_frames=30)
    line = result_line(tracks, rec, TrackParams(), "tracks.csv")
    assert line.endswith("; 2 neuron(s) lost in 40 neuron-frame(s) -> tracks.csv"), line

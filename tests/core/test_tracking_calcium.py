"""Tracking the calcium channel itself (`--channel green`): the brightness rules of h16.

Ground truth from `make_calcium_tracking_case`: neuron r is dark in frames 20-44 and comes back
at 45 during its own 12x transient; b brightens 10x at frame 70 with c 5.5 px away. The
`brightness="steady"` rows are the rules before h16 (the same tables as that tracker, checked
when the rules were written), which these movies defeat.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.core.tracking import TrackParams, track
from napari_catrack.core.tracking.tracker import resolve_brightness
from napari_catrack.synthetic.tracking_cases import make_calcium_tracking_case


@pytest.fixture(scope="module")
def case():
    return make_calcium_tracking_case(seed=0)


def _neuron(out, case, name):
    j = case.ids.index(name)
    a = out[out.neuron_id == name].set_index("frame").sort_index()
    err = np.hypot(a.y - case.truth[:, j, 0], a.x - case.truth[:, j, 1]).to_numpy()
    return a.status.to_numpy(), err, a[["y", "x"]].to_numpy()


def test_a_neuron_back_during_its_own_transient_is_reacquired_on_the_green_channel(case):
    """Before, r stayed `lost` while its transient was more than 2x its running brightness
    (all 75 frames after its return here: that brightness had been raised by earlier peaks),
    so its transient was NaN in the traces. Now it is taken back on the frame it returns."""
    back = case.dark[1]
    out = track(None, case.movie, case.seeds, 0, channel="green")
    status, err, _ = _neuron(out, case, "r")
    first = back + int(np.argmax(status[back:] == "tracked"))
    assert status[first] == "tracked" and first <= back + 2, status[back : back + 10]
    assert (status[back + 3 :] != "lost").all()
    assert (err[back : back + 30] <= 2).all(), err[back : back + 30].round(1)
    steady = track(None, case.movie, case.seeds, 0, channel="green",
                   params=TrackParams(brightness="steady"))  # fmt: skip
    s_status, _, _ = _neuron(steady, case, "r")
    assert (s_status[back : back + 20] == "lost").all()  # the limit these rules fix


def test_a_neuron_brightening_10x_does_not_pull_its_neighbour_onto_its_peak(case):
    """c sits 5.5 px from b; b brightens 10x at frame 70. With the steady rules c's track sat
    on b's peak for 10 frames (the patch correlation matched c onto b's bright blob); now c
    stays on its own neuron and b keeps its own, tracked, through the transient."""
    out = track(None, case.movie, case.seeds, 0, channel="green")
    _, c_err, c_yx = _neuron(out, case, "c")
    b_status, b_err, _ = _neuron(out, case, "b")
    b = case.ids.index("b")
    on_b = np.hypot(*(c_yx - case.truth[:, b]).T) <= 2
    assert not on_b.any()
    assert (c_err[60:100] <= 2).all() and (b_err[60:100] <= 2).all()
    assert (b_status[70:80] == "tracked").all()  # its own transient is its own peak
    steady = track(None, case.movie, case.seeds, 0, channel="green",
                   params=TrackParams(brightness="steady"))  # fmt: skip
    _, _, s_yx = _neuron(steady, case, "c")
    assert (np.hypot(*(s_yx - case.truth[:, b]).T) <= 2).sum() >= 5  # before: pulled


def test_red_channel_keeps_the_steady_rules_and_its_statuses():
    """The red (structural) channel keeps the rules before h16: the dark-neuron movie of
    test_tracking.py tracked as red gives the statuses its ground truth says (20 tracked, 10
    predicted, 15 lost, tracked again on return), the same table as brightness="steady"."""
    from tests.core.test_tracking import _dark_neuron_movie

    movie, seeds = _dark_neuron_movie()
    red = track(movie, None, seeds, 0)
    k = TrackParams().lost_after
    a = red[red.neuron_id == "a"].set_index("frame").status.to_numpy()
    expected = ["tracked"] * 20 + ["predicted"] * k + ["lost"] * (25 - k) + ["tracked"] * 25
    assert a.tolist() == expected
    same = track(movie, None, seeds, 0, params=TrackParams(brightness="steady"))
    assert red.equals(same)
    # tracked as green the calcium rules apply: here (no transients) the same statuses
    green = track(None, movie, seeds, 0, channel="green")
    assert green[green.neuron_id == "a"].status.tolist() == expected


def test_brightness_auto_follows_the_tracked_channel():
    """auto: calcium when the frames tracked are green (the argument, or params.channel as the
    CLI, batch and widget pass it), steady on red; an explicit choice is kept and recorded."""
    p = TrackParams()
    assert p.brightness == "auto" and p.to_dict()["brightness"] == "auto"
    assert resolve_brightness(p).brightness == "steady"
    assert resolve_brightness(p, green=True).brightness == "calcium"
    assert resolve_brightness(p.replace(channel="green")).brightness == "calcium"
    assert resolve_brightness(p.replace(brightness="steady"), green=True).brightness == "steady"
    assert resolve_brightness(p.replace(brightness="calcium")).brightness == "calcium"

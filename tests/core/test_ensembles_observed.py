"""Ensembles that know a neuron was not measured (NaN in its trace), rather than silent.

Before h16 the event trains had no notion of a missing frame: a neuron lost for half the
recording counted as "not taking part" in every ensemble event there (its member fraction and
the events' Jaccard similarity halved), and the circular-shift null moved its events into the
gap, where no event can be observed."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.core.ensembles import find_ensembles, jaccard_similarity, trains_from_table
from napari_catrack.core.ensembles.null import shift_offsets, shifted_frames, shuffle_null
from napari_catrack.core.ensembles.significance import _coactivations, member_test, subset_trains
from napari_catrack.core.ensembles.trains import observed_from_traces
from napari_catrack.core.ensembles.windows import coactivity_peaks, window_null
from napari_catrack.errors import InputError
from napari_catrack.synthetic.rasters import planted_ensembles

T, FPS, LOST = 2000, 10.0, 3  # neuron 3 is not measured in the second half
GAP = slice(T // 2, T)
GROUP = (0, 1, 2, 3)


def _lost_half():
    """Neurons 0..3 fire together 40 times (20 in each half); neuron 3 is lost (no events, NaN
    trace) for the second half; neurons 4..11 fire at random, never with
    them. Returns (table, observed mask)."""
    rng = np.random.default_rng(4)
    acts = np.concatenate([np.sort(rng.choice(np.arange(1, 50), 20, replace=False)) * 20 + 5,
                           T // 2 + np.sort(rng.choice(np.arange(1, 49), 20, replace=False)) * 20 + 5])  # fmt: skip
    rows = [(n, f) for f in acts for n in GROUP if not (n == LOST and f >= T // 2)]
    away = np.abs(np.arange(T)[:, None] - acts[None]).min(axis=1) > 3  # background: elsewhere
    for n in range(4, 12):
        rows += [(n, int(f)) for f in rng.choice(np.flatnonzero(away), 12, replace=False)]
    table = pd.DataFrame(rows, columns=["neuron_id", "start_frame"])
    observed = np.ones((12, T), dtype=bool)
    observed[LOST, GAP] = False
    return table, observed


def _ensemble_of(result, neuron) -> int:
    m = result.members
    return int(m.loc[m["neuron_id"] == neuron, "ensemble_id"].iloc[0])


def test_a_neuron_lost_for_half_the_recording_is_unknown_there_not_silent():
    table, observed = _lost_half()
    trains = trains_from_table(table, n_frames=T, neuron_ids=np.arange(12))
    masked = find_ensembles(trains.with_observed(observed), FPS, n_shuffles=300)
    # one ensemble of 0..3 (all 40 co-activations), each a member of every event it could be
    # seen in: fraction 1, and every two of its events are alike (Jaccard 1)
    ens = _ensemble_of(masked, LOST)
    mine = masked.members[masked.members["ensemble_id"] == ens]
    assert sorted(mine["neuron_id"]) == list(GROUP)
    assert np.allclose(mine["fraction"], 1.0)
    in_ens = (masked.events["ensemble_id"] == ens).to_numpy()
    assert in_ens.sum() == 40
    assert np.allclose(masked.similarity[np.ix_(in_ens, in_ens)], 1.0)
    # the events in the gap say so: one neuron fewer observed
    ev = masked.events[in_ens]
    assert (ev.loc[ev["start_frame"] >= T // 2, "n_observed"] == 11).all()
    assert (ev.loc[ev["start_frame"] < T // 2, "n_observed"] == 12).all()
    assert masked.params["observation"]["unobserved_neuron_frames"] == T // 2

    assert masked.n_ensembles == 1

    # the old reading (no mask): neuron 3 "silent" in the gap, the events of the two halves
    # only 3/4 alike, and the lost half made a second "ensemble" of 0, 1, 2 without neuron 3
    old = find_ensembles(trains, FPS, n_shuffles=300)
    assert "n_observed" not in old.events and "observation" not in old.params
    first = old.events["start_frame"].to_numpy() < T // 2
    i, j = np.flatnonzero(first)[0], np.flatnonzero(~first)[0]
    assert np.isclose(old.similarity[i, j], 3 / 4) and np.isclose(masked.similarity[i, j], 1.0)
    assert old.n_ensembles == 2
    assert sorted(old.members.groupby("ensemble_id").size()) == [3, 4]


def test_jaccard_compares_two_events_over_the_neurons_observed_in_both():
    part = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)
    seen = np.ones_like(part)
    seen[1, 2] = False  # neuron 2 not measured during event 1
    assert np.isclose(jaccard_similarity(part)[0, 1], 2 / 3)  # the old reading
    sim = jaccard_similarity(part, seen)
    assert np.isclose(sim[0, 1], 1.0) and np.isclose(sim[1, 0], 1.0)
    assert np.allclose(
        np.delete(sim, 1, 0)[:, [0, 2]], np.delete(jaccard_similarity(part), 1, 0)[:, [0, 2]]
    )


def test_the_null_shifts_events_along_observed_frames_only():
    table, observed = _lost_half()
    trains = trains_from_table(table, n_frames=T, neuron_ids=np.arange(12)).with_observed(observed)
    offsets = shift_offsets(trains, 500, 0)
    assert offsets[:, LOST].max() < T // 2 and offsets[:, 0].max() >= T // 2
    x = shifted_frames(trains, offsets)
    lost = trains.neuron == LOST
    assert (x[:, lost] < T // 2).all()  # never into the gap
    assert len(np.unique(x[:, lost])) > 500  # yet everywhere in the observed half
    ok = ~lost  # a neuron observed throughout moves exactly as without a mask
    want = (trains.frame[ok] + np.repeat(offsets, trains.counts(), axis=1)[:, ok]) % T
    assert (x[:, ok] == want).all()
    # a gap inside the recording: the k-th observed frame goes to the (k + offset)-th
    obs = observed.copy()
    obs[LOST] = True
    obs[LOST, 300:700] = False
    tr = replace(trains_from_table(table, n_frames=T, neuron_ids=np.arange(12)), observed=obs)
    frames = np.flatnonzero(obs[LOST])
    sel = tr.neuron == LOST
    xs = shifted_frames(tr, offsets[:3])[:, sel]
    rank = np.searchsorted(frames, tr.frame[sel])
    for s in range(3):
        assert (xs[s] == frames[(rank + offsets[s, LOST]) % len(frames)]).all()
        assert not ((xs[s] >= 300) & (xs[s] < 700)).any()


def _dense(trains, x):
    out = np.zeros((trains.n_neurons, trains.n_frames), dtype=bool)
    out[trains.neuron, x] = True
    return out


@pytest.mark.parametrize("mode", ["window", "bins"])
def test_the_masked_null_counts_what_a_dense_raster_of_the_shifts_counts(mode):
    table, observed = _lost_half()
    observed[5, 100:400] = False  # a gap with events on both sides
    table = table[~((table.neuron_id == 5) & table.start_frame.between(100, 399))]
    # a burst around a short gap: shifted, its events share windows and bins (counted once)
    burst = pd.DataFrame({"neuron_id": 6, "start_frame": [700, 701, 702, 705, 1990, 1998]})
    table = pd.concat([table, burst], ignore_index=True)
    observed[6, 703:705] = False
    trains = trains_from_table(table, n_frames=T, neuron_ids=np.arange(12)).with_observed(observed)
    width = 4  # divides T: whole bins
    if mode == "window":
        null = window_null(trains, width, 20, seed=1, n_threads=1)
        hist, maxima = np.zeros_like(null.peak_hist), []
    else:
        null = shuffle_null(trains, width, 20, seed=1, n_threads=1)
        hist, maxima = np.zeros_like(null.hist), []
    for x in shifted_frames(trains, null.offsets):
        r = _dense(trains, x)
        if mode == "window":
            c = np.array([r[:, t : t + width].any(axis=1).sum() for t in range(T - width + 1)])
            hist += np.bincount(c[coactivity_peaks(c, width)], minlength=len(hist))
        else:
            c = r.reshape(12, -1, width).any(axis=2).sum(axis=0)
            hist += np.bincount(c, minlength=len(hist))
        maxima.append(c.max())
    assert (hist == (null.peak_hist if mode == "window" else null.hist)).all()
    assert (np.array(maxima) == null.maxima).all()


@pytest.mark.parametrize("mode", ["window", "bins"])
def test_every_frame_observed_gives_the_old_result_exactly(mode):
    pr = planted_ensembles(n_neurons=40, n_frames=3000, n_ensembles=2, ensemble_size=6,
                           n_activations=12, seed=3)  # fmt: skip
    trains = trains_from_table(pr.events, n_frames=pr.n_frames)
    full = np.ones((trains.n_neurons, trains.n_frames), dtype=bool)
    assert trains.with_observed(full).observed is None  # stored as "no mask"
    forced = replace(trains, observed=full)  # the masked code path, everything observed
    kw = {"coactivity": mode, "n_shuffles": 200, "seed": 5}
    old, new = find_ensembles(trains, pr.fps, **kw), find_ensembles(forced, pr.fps, **kw)
    assert old.n_ensembles >= 2 and old.threshold == new.threshold
    pd.testing.assert_frame_equal(old.events, new.events.drop(columns="n_observed"))
    pd.testing.assert_frame_equal(old.members, new.members)
    assert np.array_equal(old.similarity, new.similarity)
    assert old.params["cut"] == new.params["cut"]


def test_observed_from_traces_reads_missing_and_nan():
    traces = pd.DataFrame(
        {
            "neuron_id": [1, 1, 1, 2, 2, 2],
            "frame": [0, 1, 2, 0, 1, 2],
            "dff": [0.1, np.nan, 0.2, 0.0, 0.1, 0.3],
            "missing": [False, True, False, False, False, True],
        }
    )
    obs = observed_from_traces(traces, [1, 2, 3], 4)
    # frame 3 has no row (unobserved); neuron 3 is not in the traces: observed throughout
    assert obs.tolist() == [[1, 0, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]]
    assert observed_from_traces(traces.drop(columns="missing"), [1, 2], 3).tolist() == [
        [1, 0, 1],
        [1, 1, 1],
    ]
    with pytest.raises(InputError, match="missing nor a dff"):
        observed_from_traces(traces[["neuron_id", "frame"]], [1], 3)


def test_the_analytic_null_refuses_unobserved_frames():
    table, observed = _lost_half()
    trains = trains_from_table(table, n_frames=T, neuron_ids=np.arange(12)).with_observed(observed)
    with pytest.raises(InputError, match="analytic null"):
        find_ensembles(trains, FPS, coactivity="bins", null_method="analytic")


def test_cli_traces_option(tmp_path, capsys):
    table, observed = _lost_half()
    table.to_csv(tmp_path / "t.csv", index=False)
    n, f = np.meshgrid(np.arange(12), np.arange(T), indexing="ij")
    traces = pd.DataFrame({"neuron_id": n.ravel(), "frame": f.ravel(), "dff": 0.0,
                           "missing": ~observed.ravel()})  # fmt: skip
    traces.to_csv(tmp_path / "traces.csv", index=False)
    base = ["ensembles", str(tmp_path / "t.csv"), "--fps", "10", "--n-frames", str(T),
            "--shuffles", "200", "--no-figures"]  # fmt: skip
    sess = tmp_path / "s.catrack.h5"
    argv = [*base, "-o", str(tmp_path / "a"), "--traces", str(tmp_path / "traces.csv")]
    assert main([*argv, "--session", str(sess)]) == 0
    out = capsys.readouterr().out
    assert f"observation: {T // 2} neuron-frame(s) of 1 neuron(s) unobserved" in out
    params = json.loads((tmp_path / "a" / "params.json").read_text())
    assert params["observation"]["unobserved_neuron_frames"] == T // 2
    members = pd.read_csv(tmp_path / "a" / "ensemble_members.csv")
    assert members.loc[members["neuron_id"] == LOST, "fraction"].max() == 1.0
    assert "n_observed" in pd.read_csv(tmp_path / "a" / "ensemble_events.csv")
    from napari_catrack.session import Session

    step = Session.load(sess)["ensembles"]
    assert step.params["observation"]["unobserved_neuron_frames"] == T // 2
    assert step.attrs["inputs"]["traces"]["sha256"]
    assert main([*base, "-o", str(tmp_path / "b")]) == 0
    assert "observation: every neuron observed at every frame" in capsys.readouterr().out
    assert "n_observed" not in pd.read_csv(tmp_path / "b" / "ensemble_events.csv")


@pytest.mark.parametrize("mode", ["window", "bins"])
def test_the_member_test_asks_only_the_members_observed_at_each_event(mode):
    """A group of four firing together 40 times, one member lost for the second half: with
    member_fraction 1 (every member must be active) its 20 events in that half still count as
    the group's co-activations (3 of the 3 observed members), in the data and in the test."""
    table, observed = _lost_half()
    trains = trains_from_table(table, n_frames=T, neuron_ids=np.arange(12))
    masked = trains.with_observed(observed)
    offsets = shift_offsets(masked, 400, 0)
    test = member_test(masked, np.array(GROUP), offsets, 3, mode, member_fraction=1.0)
    assert test.observed == 40 and test.min_active == 4 and test.p_value < 0.01
    # the old reading: all four asked for at every event, so only the first half's 20 count
    old = member_test(trains, np.array(GROUP), offsets, 3, mode, member_fraction=1.0)
    assert old.observed == 20
    # through the pipeline: the ensemble of 0..3 is kept with all 40 events
    res = find_ensembles(masked, FPS, coactivity=mode, n_shuffles=400, member_fraction=1.0)
    ens = _ensemble_of(res, LOST)
    tested = res.params["cut"]["member_tests"][ens]
    assert tested["kept"] and tested["coactivations"] == 40
    assert (res.events["ensemble_id"] == ens).sum() == 40


def _brute_coactivations(trains, x, width, mode, member_fraction):
    """The member test's statistic from a dense raster of one shifted copy: coactivity events
    where at least q(members observed there) are active; a member is observed at a window (bin)
    when observed at every frame of it or active in it."""
    r = _dense(trains, x)
    obs = trains.observed
    if mode == "window":
        pos = [(t, t + width) for t in range(trains.n_frames - width + 1)]
    else:
        pos = [(b, min(b + width, trains.n_frames)) for b in range(0, trains.n_frames, width)]
    act = np.array([r[:, a:b].any(axis=1) for a, b in pos]).T  # (members, positions)
    seen = np.array([obs[:, a:b].all(axis=1) for a, b in pos]).T | act
    c = act.sum(axis=0)
    q = np.maximum(2, np.ceil(member_fraction * seen.sum(axis=0) - 1e-9))
    ok = c >= q
    if mode == "window":
        ok &= coactivity_peaks(c, width)
    return int(ok.sum())


@pytest.mark.parametrize("mode", ["window", "bins"])
def test_the_masked_member_test_counts_what_a_dense_raster_counts(mode):
    table, observed = _lost_half()
    observed[1, 500:530] = False  # short gaps inside the group's activity too
    observed[2, 1203:1207] = False
    table = table[~((table.neuron_id == 1) & table.start_frame.between(500, 529))]
    table = table[~((table.neuron_id == 2) & table.start_frame.between(1203, 1206))]
    trains = trains_from_table(table, n_frames=T, neuron_ids=np.arange(12)).with_observed(observed)
    members = np.array([0, 1, 2, 3, 4])
    sub = subset_trains(trains, members)
    offsets = shift_offsets(trains, 12, 2)[:, members]
    offsets[0] = 0  # the data themselves
    width = 3
    for frac in (0.5, 0.8, 1.0):
        got = _coactivations(sub, offsets, width, mode, frac)
        want = [_brute_coactivations(sub, x, width, mode, frac)
                for x in shifted_frames(sub, offsets)]  # fmt: skip
        assert got.tolist() == want

"""Ensembles: coactivity in bins and in a sliding window, circular-shift nulls (vs slow np.roll
references and the analytic Poisson-binomial), the bin-edge split the window fixes, Jaccard,
clustering of planted ensembles, the member test, chance rasters, bad input, CLI round trip."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.ensembles import (
    adjusted_rand_index,
    analytic_null_pmf,
    coactivity,
    coactivity_peaks,
    find_ensembles,
    jaccard_similarity,
    member_test,
    n_bins,
    poisson_binomial_pmf,
    shuffle_null,
    silhouette_score,
    threshold_from_pmf,
    trains_from_raster,
    trains_from_table,
    window_coactivity,
    window_events,
    window_frames,
    window_null,
)
from napari_catrack.errors import InputError
from napari_catrack.synthetic.rasters import planted_ensembles


def _random_raster(n=15, t=157, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, t)) < rng.uniform(0.02, 0.3, size=(n, 1))


def _slow_null(raster, width, offsets):
    """Reference: np.roll every neuron's dense row, then count active neurons per bin."""
    n, t = raster.shape
    nb = n_bins(t, width)
    hist = np.zeros(n + 1, dtype=np.int64)
    maxima = []
    for off in offsets:
        rolled = np.stack([np.roll(raster[i], off[i]) for i in range(n)])
        counts = np.array(
            [rolled[:, b * width : (b + 1) * width].any(axis=1).sum() for b in range(nb)]
        )
        hist += np.bincount(counts, minlength=n + 1)
        maxima.append(counts.max())
    return hist, np.array(maxima)


def test_coactivity_counts_distinct_neurons_on_hand_made_raster():
    raster = np.zeros((3, 10), dtype=bool)
    raster[0, [0, 1]] = True  # twice in bin 0: counts once
    raster[1, [1, 5]] = True
    raster[2, [5, 9]] = True  # frame 9 is in the partial last bin (width 4: bins 0-3, 4-7, 8-9)
    trains = trains_from_raster(raster)
    np.testing.assert_array_equal(coactivity(trains, 4), [2, 2, 1])
    np.testing.assert_array_equal(coactivity(trains, 1), raster.sum(axis=0))


def test_table_and_raster_inputs_agree():
    table = pd.DataFrame({"neuron_id": [7, 7, 3, 3], "start_frame": [2, 2, 0, 8]})
    trains = trains_from_table(table, n_frames=10)
    np.testing.assert_array_equal(trains.neuron_ids, [3, 7])
    np.testing.assert_array_equal(trains.frame, [0, 8, 2])  # duplicates removed, sorted
    raster = np.zeros((2, 10))
    raster[0, [0, 8]] = raster[1, 2] = 1.0
    np.testing.assert_array_equal(coactivity(trains, 3), coactivity(trains_from_raster(raster), 3))


def test_shuffle_null_is_exactly_the_np_roll_reference():
    raster = _random_raster(t=160)
    trains = trains_from_raster(raster)
    for width in (1, 3, 4, 7):  # 160 frames: 3 and 7 leave a partial last bin (the wrap path)
        fast = shuffle_null(trains, width, n_shuffles=60, seed=5)
        hist, maxima = _slow_null(raster, width, fast.offsets)
        np.testing.assert_array_equal(fast.hist, hist)
        np.testing.assert_array_equal(fast.maxima, maxima)


def test_shuffle_null_reproducible_by_seed_and_threaded_equals_serial():
    trains = trains_from_raster(_random_raster(seed=2))
    a = shuffle_null(trains, 3, 200, seed=11, n_threads=1, chunk=7)
    b = shuffle_null(trains, 3, 200, seed=11, n_threads=2, chunk=64)
    c = shuffle_null(trains, 3, 200, seed=12)
    np.testing.assert_array_equal(a.hist, b.hist)
    np.testing.assert_array_equal(a.maxima, b.maxima)
    assert not np.array_equal(a.hist, c.hist)


def _slow_window_counts(raster, width):
    """Reference: distinct neurons with an event in frames [t, t + width), t = 0 .. T - width."""
    t = raster.shape[1]
    return np.array([raster[:, s : s + width].any(axis=1).sum() for s in range(t - width + 1)])


def _slow_peaks(counts, width):
    """Reference: peaks by their definition, one window at a time."""
    out = []
    for t, c in enumerate(counts):
        before = counts[max(t - width + 1, 0) : t]
        after = counts[t + 1 : t + width]
        out.append(c > 0 and (before < c).all() and (after <= c).all())
    return np.array(out)


def test_window_coactivity_and_peaks_match_their_definitions():
    raster = _random_raster(n=12, t=97, seed=4)
    raster[3, [0, 96]] = True  # events at both ends (the cyclic predecessor of frame 0 is 96)
    trains = trains_from_raster(raster)
    for width in (1, 2, 3, 5):
        counts = window_coactivity(trains, width)
        np.testing.assert_array_equal(counts, _slow_window_counts(raster, width))
        np.testing.assert_array_equal(coactivity_peaks(counts, width), _slow_peaks(counts, width))


def test_window_null_is_exactly_the_np_roll_reference():
    raster = _random_raster(n=10, t=83, seed=6)
    trains = trains_from_raster(raster)
    for width in (2, 3, 6):
        fast = window_null(trains, width, n_shuffles=40, seed=3, chunk=7)
        hist = np.zeros(raster.shape[0] + 1, dtype=np.int64)
        for k, off in enumerate(fast.offsets):
            rolled = np.stack([np.roll(raster[i], off[i]) for i in range(len(raster))])
            counts = _slow_window_counts(rolled, width)
            hist += np.bincount(counts[_slow_peaks(counts, width)], minlength=len(hist))
            assert fast.maxima[k] == counts.max()
        np.testing.assert_array_equal(fast.peak_hist, hist)
    a = window_null(trains, 3, 50, seed=1, n_threads=1, chunk=5)
    b = window_null(trains, 3, 50, seed=1, n_threads=2, chunk=64)
    np.testing.assert_array_equal(a.peak_hist, b.peak_hist)


def test_a_coactivation_across_a_bin_edge_stays_one_event_in_the_window():
    """The root cause of the sample's missed group: five neurons fire together, two onsets a
    frame before a bin edge, three on it. Bins of 3 frames split them 2 + 3; the window keeps 5."""
    raster = np.zeros((8, 60), dtype=bool)
    raster[:2, 29] = raster[2:5, 30] = True  # bins 27-29 | 30-32
    raster[5, 10] = raster[6, 45] = raster[7, 50] = True  # unrelated activity
    trains = trains_from_raster(raster)
    assert coactivity(trains, 3)[[9, 10]].tolist() == [2, 3]
    assert coactivity(trains, 3).max() < 5
    starts, counts, part = window_events(trains, 3, threshold=3)
    assert counts.max() == 5 and starts.tolist() == [28]  # the first window holding all five
    assert part[0, :5].all() and not part[0, 5:].any()


def test_window_frames_has_a_floor_of_three_frames():
    assert window_frames(0.3, 10.0) == 3 and window_frames(0.3, 4.8) == 3
    assert window_frames(0.3, 30.0) == 9 and window_frames(0.3, 4.8, min_frames=1) == 1
    with pytest.raises(InputError, match="fps"):
        window_frames(0.3, 0)


def test_member_test_tells_a_planted_group_from_busy_neurons_meeting_by_chance():
    pr = planted_ensembles(n_neurons=40, n_frames=3000, n_ensembles=1, ensemble_size=6,
                           n_activations=12, seed=3)  # fmt: skip
    trains = trains_from_table(pr.events, n_frames=pr.n_frames)
    offsets = window_null(trains, 3, 300, seed=0).offsets
    members = np.flatnonzero(np.isin(trains.neuron_ids, pr.members[0]))
    planted = member_test(trains, members, offsets, 3)
    assert planted.p_value < 0.01 and planted.observed >= 8
    busy = np.argsort(trains.counts())[-6:]
    busy = busy[~np.isin(busy, members)][:4]
    chance = member_test(trains, busy, offsets, 3)
    assert chance.p_value > 0.05 and chance.observed <= 2 * chance.null_mean + 3
    assert member_test(trains, members, offsets, 3, mode="bins").p_value < 0.01


def test_analytic_null_matches_shuffles():
    raster = _random_raster(n=25, t=301, seed=3)
    trains = trains_from_raster(raster, onsets=True)
    for width in (2, 4):
        sh = shuffle_null(trains, width, 3000, seed=0)
        emp = sh.hist / sh.hist.sum()
        exact = analytic_null_pmf(trains, width)
        assert exact.sum() == pytest.approx(1.0)
        assert 0.5 * np.abs(emp - exact).sum() < 0.02  # total variation distance
        for q in (90, 99):
            assert threshold_from_pmf(exact, q) == threshold_from_pmf(emp, q)


def test_poisson_binomial_against_binomial():
    from scipy.stats import binom

    np.testing.assert_allclose(
        poisson_binomial_pmf(np.full(12, 0.3)), binom.pmf(range(13), 12, 0.3)
    )


def test_jaccard_on_known_sets():
    sets = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0]], dtype=bool)
    sim = jaccard_similarity(sets)
    assert sim[0, 1] == pytest.approx(1 / 3)
    assert sim[0, 2] == 0.0
    assert sim[0, 3] == 1.0
    np.testing.assert_allclose(sim, sim.T)
    np.testing.assert_allclose(np.diag(sim), 1.0)


def test_ari_and_silhouette_basics():
    assert adjusted_rand_index([0, 0, 1, 1], [5, 5, 2, 2]) == pytest.approx(1.0)
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) < 0
    d = np.array([[0, 0.1, 1, 1], [0.1, 0, 1, 1], [1, 1, 0, 0.1], [1, 1, 0.1, 0]])
    assert silhouette_score(d, [0, 0, 1, 1]) == pytest.approx(0.9)


@pytest.mark.parametrize("jitter", [0, 1])
def test_planted_ensembles_recovered(jitter):
    pr = planted_ensembles(
        n_neurons=120,
        n_frames=4000,
        n_ensembles=3,
        ensemble_size=12,
        n_activations=15,
        jitter_frames=jitter,
        seed=4,
    )
    trains = trains_from_table(pr.events, n_frames=pr.n_frames)
    res = find_ensembles(trains, pr.fps, n_shuffles=300, seed=1)
    ev = res.events
    truth = pr.true_event_labels(ev["start_frame"].to_numpy(), ev["end_frame"].to_numpy())
    found = ev["ensemble_id"].to_numpy()
    assert res.n_ensembles == 3
    assert adjusted_rand_index(truth, found) >= 0.9
    detected = {e for e in truth if e >= 0}
    assert detected == {0, 1, 2}
    for ens in range(3):  # each found ensemble's members are (mostly) one planted ensemble
        mem = set(res.members.loc[res.members["ensemble_id"] == ens, "neuron_id"])
        best = max(len(mem & set(m)) / len(mem | set(m)) for m in pr.members)
        assert best >= 0.8


def test_no_planted_ensembles_few_flagged_bins():
    pr = planted_ensembles(n_neurons=120, n_frames=6000, n_ensembles=0, seed=9)
    trains = trains_from_table(pr.events, n_frames=pr.n_frames)
    bins = dict(coactivity="bins", n_shuffles=300, seed=2, merge_adjacent=False)
    res = find_ensembles(trains, pr.fps, **bins)
    flagged = len(res.events) / res.params["n_bins"]
    assert flagged <= 1.5 * (100 - res.params["percentile"]) / 100  # the null's stated rate
    strict99 = find_ensembles(trains, pr.fps, **bins, percentile=99)
    assert len(strict99.events) / res.params["n_bins"] <= 0.015
    strict = find_ensembles(trains, pr.fps, n_shuffles=300, seed=2, null="max", coactivity="bins")
    assert strict.threshold >= res.threshold
    assert len(strict.events) <= 2


def test_window_null_keeps_chance_events_at_its_stated_rate():
    """Pooled window null: chance events (peaks above threshold) at most at the rate
    1 - percentile/100 per window length; the family-wise null allows almost none."""
    pr = planted_ensembles(n_neurons=120, n_frames=6000, n_ensembles=0, seed=9)
    trains = trains_from_table(pr.events, n_frames=pr.n_frames)
    res = find_ensembles(trains, pr.fps, n_shuffles=300, seed=2)
    width = res.params["bin_frames"]
    windows_worth = res.params["n_bins"] / width  # window lengths in the recording
    for q in (95, 99):
        r = find_ensembles(trains, pr.fps, n_shuffles=300, seed=2, percentile=q)
        assert len(r.events) <= 1.5 * (100 - q) / 100 * windows_worth
    strict = find_ensembles(trains, pr.fps, n_shuffles=300, seed=2, null="max")
    assert strict.threshold > res.threshold and len(strict.events) <= 2


def test_default_parameters_find_no_ensembles_in_chance_coactivity():
    """Twenty chance rasters (independent neurons, some busy): the defaults flag chance events
    at their stated rate but find no ensemble in any (fixed bins with the member test off, the
    old defaults, found some in 4 of these 20)."""
    found = []
    for seed in range(9, 29):
        pr = planted_ensembles(n_neurons=120, n_frames=6000, n_ensembles=0, seed=seed)
        trains = trains_from_table(pr.events, n_frames=pr.n_frames)
        found.append(find_ensembles(trains, pr.fps, n_shuffles=300, seed=2).n_ensembles)
    assert found == [0] * 20


@pytest.mark.parametrize(
    ("table", "n_frames", "bin_s"),
    [
        (pd.DataFrame({"neuron_id": [], "start_frame": []}), 100, 0.5),
        (pd.DataFrame({"neuron_id": [1, 1, 1], "start_frame": [3, 10, 50]}), 100, 0.5),
        (pd.DataFrame({"neuron_id": [1, 2, 2], "start_frame": [3, 10, 50]}), 100, 60.0),
    ],
    ids=["no-events", "single-neuron", "bin-longer-than-recording"],
)
def test_bad_input_gives_empty_well_formed_outputs(table, n_frames, bin_s):
    trains = trains_from_table(table, n_frames=n_frames)
    res = find_ensembles(trains, 4.8, bin_s=bin_s, n_shuffles=20)
    assert res.warnings
    assert list(res.events.columns) == [
        "event_id",
        "bin",
        "start_frame",
        "end_frame",
        "n_active",
        "ensemble_id",
    ]
    assert len(res.events) == 0 and len(res.members) == 0
    assert res.n_ensembles == 0


def test_input_errors_are_clear():
    with pytest.raises(InputError, match="start_frame"):
        trains_from_table(pd.DataFrame({"neuron_id": [1]}))
    with pytest.raises(InputError, match="negative"):
        trains_from_table(pd.DataFrame({"neuron_id": [1], "start_frame": [-2]}))
    trains = trains_from_raster(_random_raster())
    with pytest.raises(InputError, match="fps"):
        find_ensembles(trains, 0)
    with pytest.raises(InputError, match="analytic"):
        find_ensembles(trains, 5, null="max", null_method="analytic")


def test_cli_round_trip(tmp_path, capsys):
    cli = pytest.importorskip("napari_catrack.cli")
    pr = planted_ensembles(
        n_neurons=60, n_frames=2000, n_ensembles=2, ensemble_size=10, n_activations=12, seed=6
    )
    src = tmp_path / "transients.csv"
    pr.events.to_csv(src, index=False)
    before = src.read_bytes()
    out = tmp_path / "out"
    code = cli.main(
        [
            "ensembles",
            str(src),
            "--fps",
            "4.8",
            "--shuffles",
            "200",
            "--n-frames",
            "2000",
            "--no-figures",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    assert src.read_bytes() == before
    events = pd.read_csv(out / "ensemble_events.csv")
    members = pd.read_csv(out / "ensemble_members.csv")
    assert list(events.columns) == [
        "event_id",
        "bin",
        "start_frame",
        "end_frame",
        "n_active",
        "ensemble_id",
    ]
    # the same table as the session, the demo and `catrack export` write (it lacked `fraction`)
    assert list(members.columns) == ["ensemble_id", "neuron_id", "fraction"]
    assert members["fraction"].between(0.5, 1.0).all()  # members: in >= --member-fraction
    assert set(members["ensemble_id"]) == {0, 1}
    sim = pd.read_csv(out / "ensemble_similarity.csv", index_col="event_id")
    assert sim.shape == (len(events), len(events))
    assert json.loads((out / "params.json").read_text())["n_shuffles"] == 200

    empty = tmp_path / "empty.csv"
    empty.write_text("neuron_id,start_frame\n")
    code = cli.main(["ensembles", str(empty), "--fps", "4.8", "-o", str(tmp_path / "e")])
    assert code == 0
    assert "warning" in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "e" / "ensemble_events.csv").empty
    assert (tmp_path / "e" / "ensembles_raster.svg").exists()

    code = cli.main(["ensembles", str(tmp_path / "missing.csv"), "--fps", "4.8", "-o", str(out)])
    assert code == 2


def test_cli_wide_layout(tmp_path):
    cli = pytest.importorskip("napari_catrack.cli")
    pr = planted_ensembles(
        n_neurons=40, n_frames=1500, n_ensembles=2, ensemble_size=8, n_activations=10, seed=8
    )
    raster = pd.DataFrame(pr.raster().astype(int), index=pd.Index(pr.neuron_ids, name="neuron_id"))
    wide = tmp_path / "raster.csv"
    raster.reset_index().to_csv(wide, index=False)
    out = tmp_path / "out"
    args = [
        "ensembles",
        str(wide),
        "--layout",
        "wide",
        "--fps",
        "4.8",
        "--shuffles",
        "100",
        "--coactivity",
        "bins",
        "--null-method",
        "analytic",
        "--no-figures",
        "-o",
        str(out),
    ]
    assert cli.main(args) == 0
    members = pd.read_csv(out / "ensemble_members.csv")
    found = [set(g) for _, g in members.groupby("ensemble_id")["neuron_id"]]
    assert len(found) == 2
    assert all(max(len(f & set(m)) / len(f | set(m)) for m in pr.members) >= 0.8 for f in found)


def test_wide_raster_with_an_id_column_of_any_name():
    import pandas as pd

    from napari_catrack.core.ensembles import wide_table_to_raster

    table = pd.DataFrame({"cell": ["a", "b"], "0": [1, 0], "1": [0, 1], "2": [1, 1]})
    raster = wide_table_to_raster(table)
    assert list(raster.index) == ["a", "b"] and raster.shape == (2, 3)
    numbered = pd.DataFrame({"cell": [7, 8], "0": [1, 0], "1": [0, 1]})
    assert list(wide_table_to_raster(numbered).index) == [7, 8]
    plain = pd.DataFrame({"0": [1, 0], "1": [0, 1]})
    assert wide_table_to_raster(plain).shape == (2, 2)


def test_default_parameters_recover_the_worm_samples_planted_groups():
    """Event trains from the synthetic worm's true spikes (event onsets): the default
    parameters find each planted co-active group as an ensemble."""
    from napari_catrack.synthetic import make_worm_recording

    found = []
    for seed in range(6):
        syn = make_worm_recording(n_frames=300, shape=(48, 48), seed=seed)
        spikes = syn.truth.spikes > 0
        onsets = spikes & ~np.pad(spikes, ((0, 0), (1, 0)))[:, :-1]
        trains = trains_from_raster(onsets, neuron_ids=np.array(syn.truth.neuron_ids))
        result = find_ensembles(trains, syn.fps)
        members = [set(g.neuron_id) for _, g in result.members.groupby("ensemble_id")]
        for group in syn.truth.ensemble_members:
            found.append(max((len(set(group) & m) / len(set(group) | m) for m in members),
                             default=0.0))  # fmt: skip
    assert sum(j >= 0.6 for j in found) >= 11 and np.median(found) == 1.0


@pytest.mark.parametrize("coactivity_mode", ["window", "bins"])
def test_find_ensembles_reports_progress_and_stops_on_cancel(coactivity_mode):
    """Before: Cancel in the widget did nothing; the shuffles ran to the end."""
    from napari_catrack.errors import Cancelled

    trains = trains_from_raster(_random_raster(seed=3))
    seen = []
    find_ensembles(trains, 10.0, coactivity=coactivity_mode, n_shuffles=200,
                   progress=lambda d, t, m: seen.append((d, t)))  # fmt: skip
    assert seen[-1] == (200, 200) and len(seen) >= 2
    calls = []

    def cancel_after_two_chunks() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled, match="cancelled"):
        find_ensembles(trains, 10.0, coactivity=coactivity_mode, n_shuffles=10_000,
                       cancel=cancel_after_two_chunks)  # fmt: skip
    assert len(calls) == 3  # it stopped at the first check that said so


# --- methods review (h10): seed, shuffle counts, p-values against a reference ---------------


def _identical_group(n=6, t=300, k=10, seed=0):
    """n neurons firing together at k frames: a perfect ensemble."""
    rng = np.random.default_rng(seed)
    r = np.zeros((n, t))
    r[:, np.sort(rng.choice(np.arange(0, t, 7), k, replace=False))] = 1
    return trains_from_raster(r)


def test_an_unseeded_run_records_the_seed_it_drew_and_repeats_with_it():
    trains = trains_from_table(_table_for_seed(), n_frames=400)
    res = find_ensembles(trains, 5.0, n_shuffles=50, seed=None)
    assert res.params["seed"] is None
    used = res.params["seed_used"]
    assert isinstance(used, int) and used >= 0
    again = find_ensembles(trains, 5.0, n_shuffles=50, seed=used)
    assert again.params["seed_used"] == used
    assert np.array_equal(again.null_maxima, res.null_maxima)
    assert np.array_equal(again.null_pmf, res.null_pmf)
    seeded = find_ensembles(trains, 5.0, n_shuffles=50, seed=7)
    assert seeded.params["seed_used"] == 7


def _table_for_seed():
    rng = np.random.default_rng(4)
    return pd.DataFrame(
        {"neuron_id": rng.integers(0, 8, 120), "start_frame": rng.integers(0, 400, 120)}
    )


def test_member_test_p_value_is_the_plus_one_count_of_its_shuffles():
    trains = _identical_group()
    offsets = window_null(trains, 3, 100, seed=1).offsets
    members = np.arange(trains.n_neurons)
    t = member_test(trains, members, offsets, 3, mode="bins")
    # reference: dense raster, np.roll per neuron, bins of 3 with >= q = 3 of 6 members active
    raster = trains.raster().astype(bool)

    def coact(r):
        nb = -(-r.shape[1] // 3)
        return sum(r[:, b * 3 : (b + 1) * 3].any(axis=1).sum() >= 3 for b in range(nb))

    obs = coact(raster)
    null = [coact(np.stack([np.roll(raster[i], o[i]) for i in members])) for o in offsets]
    assert t.observed == obs
    assert t.p_value == pytest.approx((1 + sum(v >= obs for v in null)) / (1 + len(null)))


def test_too_few_shuffles_to_reach_alpha_is_said_not_blamed_on_the_members():
    trains = _identical_group()
    few = find_ensembles(trains, 5.0, n_shuffles=10, seed=0)
    assert few.n_ensembles == 0
    msg = [w for w in few.warnings if "shuffle(s) cannot give" in w]
    assert msg and "1/11" in msg[0] and "at least 20 shuffles" in msg[0]
    assert find_ensembles(trains, 5.0, n_shuffles=200, seed=0).n_ensembles == 1


def test_a_member_test_p_equal_to_alpha_is_not_significant():
    # 19 shuffles: the smallest p is 1/20 = 0.05, which is not < 0.05 (it was, by float
    # rounding of 1 - 95/100 = 0.050000000000000044)
    res = find_ensembles(_identical_group(), 5.0, n_shuffles=19, seed=0)
    tests = res.params["cut"]["member_tests"]
    assert tests and tests[0]["p"] == 0.05 and not tests[0]["kept"]
    assert res.n_ensembles == 0
    assert any("at least 20 shuffles" in w for w in res.warnings)


def test_holm_adjustment_against_its_definition_and_recorded_per_member_test():
    from napari_catrack.core.ensembles.pipeline import holm

    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4x, 3x, 2x, 1x, then running maximum
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    res = find_ensembles(_identical_group(), 5.0, n_shuffles=200, seed=0)
    t = res.params["cut"]["member_tests"][0]
    assert t["p_holm"] == t["p"]  # one cluster tested: nothing to adjust


def test_every_ensemble_figure_axis_is_labelled():
    from napari_catrack.figures.ensembles import (
        coactivity_figure,
        members_figure,
        raster_figure,
        similarity_figure,
    )

    trains = _identical_group()
    res = find_ensembles(trains, 5.0, n_shuffles=200, seed=0)
    assert res.n_ensembles == 1
    pos = pd.DataFrame({"neuron_id": trains.neuron_ids, "y": np.arange(6.0), "x": np.arange(6.0)})
    figs = [coactivity_figure(res), raster_figure(res), similarity_figure(res),
            members_figure(res), members_figure(res, pos)]  # fmt: skip
    for fig in figs:
        for ax in fig.get_axes():
            if ax.get_images() or ax.collections or ax.lines:
                if ax.get_label() == "<colorbar>" or not ax.axison:
                    continue
                assert ax.get_xlabel() or not ax.get_xticks().size, (fig, ax.get_title())
                assert ax.get_ylabel() or not ax.get_yticks().size, (fig, ax.get_title())
    maps = members_figure(res, pos).get_axes()
    assert (maps[0].get_xlabel(), maps[0].get_ylabel()) == ("x (px)", "y (px)")


def test_too_few_shuffles_for_the_max_null_is_said():
    """null="max" thresholds at the largest of n shuffle maxima when n < 1/alpha - 1: chance
    exceeds it 1/(n+1) of the time (9 % with 10 shuffles), not the 5 % the percentile promises."""
    trains = _identical_group()
    few = find_ensembles(trains, 5.0, n_shuffles=10, seed=0, null="max", test_members=False)
    msg = [w for w in few.warnings if "too few for the max null" in w]
    assert msg and "1/11 = 0.0909" in msg[0] and "at least 19 shuffles" in msg[0]
    # the reference: 19 exchangeable maxima and the observed one: P(observed is the largest) = 1/20
    ok = find_ensembles(trains, 5.0, n_shuffles=19, seed=0, null="max", test_members=False)
    assert not [w for w in ok.warnings if "too few for the max null" in w]


@pytest.mark.parametrize(("pct", "text"), [(92, "92nd"), (95, "95th"), (91, "91st"), (99.5, "99.5th")])  # fmt: skip
def test_the_max_null_warning_names_the_percentile_as_an_ordinal(pct, text):
    """h18: it read "at the 92th percentile" (f"{p:g}th"); `text.ordinal` now, as the red rule's."""
    few = find_ensembles(_identical_group(), 5.0, n_shuffles=3, seed=0, null="max",
                         percentile=pct, test_members=False)  # fmt: skip
    msg = [w for w in few.warnings if "too few for the max null" in w]
    assert msg and f"the max null at the {text} percentile:" in msg[0], msg


def test_the_coactivity_figure_always_shows_its_threshold_on_a_count_axis():
    """SIMA's 20-frame movie (7 transients): the y axis stopped at 1.35 x the highest coactivity,
    so a threshold above it (the reason no event was found) was off the plot, and neuron counts
    had ticks at 0.5, 1.5, 2.5 (h19 walk)."""
    import dataclasses

    from napari_catrack.figures.ensembles import coactivity_figure

    r = np.zeros((8, 200))
    r[0, [10, 60]] = r[1, [11, 120]] = r[2, 150] = 1  # at most 2 coactive
    res = find_ensembles(trains_from_raster(r), 5.0, n_shuffles=50, seed=0)
    res = dataclasses.replace(res, threshold=5)  # a threshold well above every window
    ax = coactivity_figure(res).axes[0]
    line = next(ln for ln in ax.lines if "threshold" in str(ln.get_label()))
    assert ax.get_ylim()[1] > line.get_ydata()[0] == 5.5
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_the_raster_labels_its_rows_with_neuron_ids_not_row_numbers():
    """h22 walk: the raster's rows are grouped by ensemble, but its y ticks were the row numbers
    (0, 3, 6, ...) under the label "neuron", so on the demo (neurons 1..23) it showed a neuron
    0 that does not exist and row 3 is not neuron 3. Rows are now labelled with their neuron's
    id (up to `MAX_ROW_LABELS` rows, as the transients raster; beyond, "neuron (row, ...)")."""
    from napari_catrack.figures.ensembles import raster_figure
    from napari_catrack.figures.style import MAX_ROW_LABELS

    rng = np.random.default_rng(0)
    r = np.zeros((6, 300))
    r[[1, 3, 5]] = _identical_group(3).raster()  # neurons 11, 13, 15: one ensemble, first
    r[[0, 2, 4], rng.choice(np.arange(3, 300, 7), 3, replace=False)] = 1  # one lone spike each
    trains = trains_from_raster(r)
    trains = dataclasses.replace(trains, neuron_ids=np.array([10, 11, 12, 13, 14, 15]))
    res = find_ensembles(trains, 5.0, n_shuffles=200, seed=0)
    assert res.n_ensembles == 1
    ax = raster_figure(res).get_axes()[0]
    rows = {round(t): lab.get_text() for t, lab in zip(ax.get_yticks(), ax.get_yticklabels(),
                                                       strict=True)}  # fmt: skip
    assert rows == {0: "11", 1: "13", 2: "15", 3: "10", 4: "12", 5: "14"}
    assert ax.get_ylabel() == "neuron (grouped by ensemble)"
    many = np.zeros((MAX_ROW_LABELS + 1, 200))
    many[:, ::40] = 1
    big = find_ensembles(trains_from_raster(many), 5.0, n_shuffles=20, seed=0)
    assert raster_figure(big).get_axes()[0].get_ylabel() == "neuron (row, grouped by ensemble)"

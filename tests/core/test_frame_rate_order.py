"""The one frame-rate rule (`core.transients.frame_rate_of_times`) answers the same whatever the
order of a table's rows, and sorts a traces table without a lexsort of its float columns.

h21: a shuffled 6-million-row traces table took ~26 s (3 s grouped; `Session.frame_rate()` reads
it once per table): `np.lexsort` of the three float keys (neuron, frame, time) and the neuron ids
made text one by one (`astype(str)` of 6 million whole numbers: 4.8 s). Now a counting sort of
one integer key (neuron rank x frame span + frame) where frames are whole numbers, and whole-
number ids named after `pd.factorize`; the speed is benchmarks/bench_frame_rate.py's, these
tests pin the answers (none timed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.transients import frame_rate_of_times, median_step_rate

FPS, CELLS, N = 30.0, 12, 2000


def _table(time_of=lambda f: f / FPS, ids=None) -> pd.DataFrame:
    """CELLS neurons n0..n11 (n10 sorts before n2) x N frames, neuron after neuron."""
    frames = np.arange(N)
    ids = ids if ids is not None else [f"n{i}" for i in range(CELLS)]
    return pd.concat([pd.DataFrame({"neuron_id": [c] * N, "frame": frames, "time_s": time_of(frames),
                                    "dff": 0.0}) for c in ids], ignore_index=True)  # fmt: skip


def _shuffled(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    return table.sample(frac=1, random_state=seed).reset_index(drop=True)


def _no_lexsort(monkeypatch) -> None:
    """Fail on any `np.lexsort` of the rule's module (what made a shuffled table slow)."""
    from napari_catrack.core.transients import features

    def refuse(keys, *args, **kwargs):
        raise AssertionError(f"np.lexsort of {len(keys)} keys")

    monkeypatch.setattr(features.np, "lexsort", refuse)


def test_a_shuffled_traces_table_is_sorted_without_a_lexsort(monkeypatch):
    """Fails on the code before h21 (it lexsorted any table out of (name, frame) order, so also
    every table of more than 10 neurons named n0, n1, ...: n10 sorts before n2)."""
    rounded = _table(lambda f: np.round(f / FPS, 3))
    expected = frame_rate_of_times(rounded)
    assert expected[1] == "" and expected[0] == pytest.approx(FPS, rel=1e-5)
    _no_lexsort(monkeypatch)
    assert frame_rate_of_times(rounded) == expected
    assert frame_rate_of_times(_shuffled(rounded)) == expected


def test_the_answers_do_not_depend_on_the_rows_order():
    """Even, millisecond-rounded, a dropped frame, a second rate, a time standing still, a
    suite2p plane's offset, whole-number ids, a neuron's frames with gaps: the shuffled table
    answers exactly as the grouped one (rate to the last bit, the frames named alike)."""
    cases = {
        "even": _table(),
        "rounded": _table(lambda f: np.round(f / FPS, 3)),
        "dropped": _table(lambda f: (f + 5 * (f >= 1200)) / FPS),
        "two rates": _table(lambda f: np.where(f < 1000, f / FPS, 1000 / FPS + (f - 1000) / 27.0)),
        "offset": _table().assign(time_s=lambda d: d.time_s + 0.01 * (d.neuron_id == "n3")),
        "int ids": _table(ids=list(range(CELLS))),
        "gaps": _table().loc[lambda d: (d.frame % 7 != 3) | (d.neuron_id != "n4")],
    }
    still = _table()
    still.loc[(still.neuron_id == "n2") & (still.frame == 700), "time_s"] = 699 / FPS
    cases["still"] = still
    answers = {}
    for name, table in cases.items():
        answers[name] = frame_rate_of_times(table)
        for seed in (0, 1):
            assert frame_rate_of_times(_shuffled(table, seed)) == answers[name], name
            assert median_step_rate(_shuffled(table, seed)) == median_step_rate(table), name
    for name in ("even", "rounded", "offset", "int ids", "gaps"):
        assert answers[name][1] == "" and answers[name][0] == pytest.approx(FPS, rel=1e-5), name
    assert answers["dropped"] == (None, "its times are uneven: neuron n0's frames 1199 to 1200 "
                                  "take 6 frames at the 30 Hz of most steps (dropped frames, or two rates?)")  # fmt: skip
    assert answers["two rates"][0] is None and "neuron n0's frames" in answers["two rates"][1]
    assert answers["still"] == (None, "its times are uneven: neuron n2's frames 699 to 700 go "
                                "back or stand still in time")  # fmt: skip
    # the rate stated: every neuron's frames over its time, first to last sample
    assert answers["even"][0] == pytest.approx(CELLS * (N - 1) / (CELLS * (N - 1) / FPS), rel=1e-12)


def test_whole_number_ids_are_named_as_text():
    """Ids 0..11 as numbers (a CSV of numeric ids) are ranked as their text, as before: "10"
    before "2", so the first uneven neuron named is the same."""
    table = _table(lambda f: (f + 5 * (f >= 1200)) / FPS, ids=list(range(CELLS)))
    table.loc[table.neuron_id.isin([0, 1]), "time_s"] = table.frame / FPS  # 0 and 1 even
    rate, why = frame_rate_of_times(_shuffled(table))
    assert rate is None and why.startswith("its times are uneven: neuron 10's frames 1199 to 1200")
    assert frame_rate_of_times(table.assign(neuron_id=table.neuron_id.astype(str))) == (rate, why)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("seed", range(7))
def test_the_sample_order_is_the_lexsort_order(seed):
    """`_sample_order` sorts (neuron rank, frame, time) as `np.lexsort` does, through each of
    its ways: whole frames once each (counting sort), a neuron's frame twice at two times (a
    lexsort of the key and the time), frames not whole, too far apart or beyond int64 (the
    lexsort; never cast to integers there, where numpy warns)."""
    from napari_catrack.core.transients.features import _sample_order

    rng = np.random.default_rng(seed)
    n = 3000
    rank, frame = rng.integers(0, 40, n), rng.integers(0, 300, n).astype(float)
    if seed % 3 == 0:  # each (neuron, frame) once
        rank, frame = np.divmod(rng.permutation(40 * 200)[:n], 200)
        frame = frame.astype(float)
    if seed in (2, 5):
        frame[::5] += 0.5 if seed == 2 else 1e20
    if seed == 6:  # one frame number for all, beyond int64
        frame = np.full(n, -1e20)
    time = frame / FPS + rng.normal(0, 1e-3, n)
    order = _sample_order(rank, frame, time)
    expected = np.lexsort((time, frame, rank))
    for column in (rank, frame, time):
        np.testing.assert_array_equal(column[order], column[expected])

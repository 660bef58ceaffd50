"""A lost neuron's held place is not its signal: traces at `lost` track frames are missing (NaN)
by default, and everything downstream treats them as missing samples (h16).

The scene: three neurons on a flat background, 10 Hz. Neuron "a" is lost for frames
LOST (status "lost"), and the tracker holds its point on its neighbour "c", which fires a large
transient inside that stretch. Measured there (the old behaviour), "a" copies c's transient.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.signals.extraction import extract_traces, lost_frames_note
from napari_catrack.core.signals.params import TracesParams
from napari_catrack.io.tables import long_to_matrix

T, H, W, FPS = 400, 40, 64, 10.0
LOST = np.arange(150, 200)  # a's lost stretch
A, B, C = (20.0, 14.0), (20.0, 50.0), (20.0, 32.0)  # a is held on c during LOST
A_SPIKES = (60, 120, 260, 330)  # a's own transients, all outside the lost stretch
C_SPIKES = (40, 170, 300)  # c's: 170 lies inside a's lost stretch
B_SPIKES = (90, 220)


def _activity(spikes) -> np.ndarray:
    t = np.arange(T)
    out = np.zeros(T)
    for s in spikes:
        out += np.where(t >= s, 1.5 * np.exp(-(t - s) / 8.0), 0.0)
    return out


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(3)
    green = np.full((T, H, W), 100.0)
    yy, xx = np.mgrid[:H, :W]
    for centre, spikes in ((A, A_SPIKES), (B, B_SPIKES), (C, C_SPIKES)):
        disk = np.hypot(yy - centre[0], xx - centre[1]) <= 4.0
        green[:, disk] += (200.0 * (1.0 + _activity(spikes)))[:, None]
    green += rng.normal(0, 4.0, green.shape)
    rows = []
    for nid, centre in (("a", A), ("b", B), ("c", C)):
        for t in range(T):
            lost = nid == "a" and t in LOST
            y, x = C if lost else centre
            rows.append({"neuron_id": nid, "frame": t, "y": y, "x": x, "confidence": 0.0 if lost
                         else 0.9, "source": "auto", "status": "lost" if lost else "tracked"})  # fmt: skip
    return green.astype(np.float32), pd.DataFrame(rows)


def _traces(scene, **changes):
    green, tracks = scene
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return extract_traces(green, tracks, None, TracesParams(**changes), fps=FPS)


def _rows(df, nid):
    return df[df.neuron_id == nid].sort_values("frame")


def test_lost_frames_are_missing_exactly_there(scene):
    df = _traces(scene)
    a = _rows(df, "a")
    gap = a.frame.isin(LOST).to_numpy()
    for col in ("green", "ratio", "dff", "dff_green", "green_raw", "green_bg"):
        if col in ("ratio",):
            continue  # one channel: NaN everywhere
        assert a[col][gap].isna().all(), col
        assert a[col][~gap].notna().all(), col
    assert a.lost.to_numpy().tolist() == gap.tolist()
    assert a.missing.to_numpy().tolist() == gap.tolist()
    assert not df[df.neuron_id != "a"][["lost", "missing"]].any().any()


def test_other_neurons_untouched_and_dff_elsewhere_as_before(scene):
    new, old = _traces(scene), _traces(scene, lost_frames="measure")
    for nid in ("b", "c"):
        pd.testing.assert_frame_equal(_rows(new, nid), _rows(old, nid))
    a_new, a_old = _rows(new, "a"), _rows(old, "a")
    keep = ~a_new.frame.isin(LOST).to_numpy()
    np.testing.assert_array_equal(a_new.green[keep], a_old.green[keep])
    # F0 is the 10th percentile of the measured frames: the held place (c's disk, as bright as
    # a's) hardly moves it
    np.testing.assert_allclose(a_new.dff[keep], a_old.dff[keep], atol=0.01)
    # the old behaviour measured c's transient as a's
    assert a_old.dff[~keep].max() > 1.0


def test_measure_keeps_the_old_values_and_is_recorded(scene):
    old = _traces(scene, lost_frames="measure")
    a = _rows(old, "a")
    assert a.green.notna().all() and a.lost.sum() == len(LOST) and not a.missing.any()
    assert TracesParams(lost_frames="measure").to_dict()["lost_frames"] == "measure"
    assert TracesParams().to_dict()["lost_frames"] == "missing"  # provenance says which
    assert "measured at the held place" in lost_frames_note(
        old, TracesParams(lost_frames="measure")
    )


def test_note_counts_the_missing_samples(scene):
    df = _traces(scene)
    note = lost_frames_note(df)
    share = 100 * len(LOST) / (3 * T)
    assert note == (f"1 neuron(s) had lost frames: {len(LOST)} samples missing ({share:.1f} %); "
                    "--lost-frames measure keeps them")  # fmt: skip
    assert lost_frames_note(df.drop(columns="lost")) == ""


def test_a_point_you_placed_is_measured(scene):
    green, tracks = scene
    t = tracks.copy()
    placed = (t.neuron_id == "a") & (t.frame == LOST[5])
    t.loc[placed, "source"] = "manual"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = extract_traces(green, t, None, fps=FPS)
    a = _rows(df, "a")
    assert np.isfinite(a.green[a.frame == LOST[5]]).all()
    assert a.green[a.frame.isin(LOST[6:])].isna().all()


@pytest.mark.parametrize("method", ["rules", "ksigma", "model"])
def test_no_transient_in_the_gap(scene, method):
    from napari_catrack.core.transients import detect_transients

    def transients(df):
        m = long_to_matrix(df, "dff", sort_ids=False)
        return detect_transients(m.dff, FPS, method, m.neuron_ids), m

    table, _ = transients(_traces(scene))
    a = table[table.neuron_id == "a"]
    assert not a.peak_frame.isin(LOST).any()
    # no transient reaches into the gap either
    assert not ((a.start_frame <= LOST[-1]) & (a.end_frame >= LOST[0])).any()
    # a's own transients are found, and c's (in the gap) is c's alone
    for s in A_SPIKES:
        assert (abs(a.peak_frame - s) <= 5).any(), s
    c = table[table.neuron_id == "c"]
    assert (abs(c.peak_frame - C_SPIKES[1]) <= 5).any()
    old, _ = transients(_traces(scene, lost_frames="measure"))
    a_old = old[old.neuron_id == "a"]
    assert a_old.peak_frame.isin(LOST).any()  # the old behaviour called c's transient a's


def test_transient_straddling_the_gap_ends_where_the_samples_do():
    from napari_catrack.core.transients import detect_transients

    rng = np.random.default_rng(0)
    t = np.arange(T)
    x = rng.normal(0, 0.02, (2, T))
    x[:, 145:] += 1.2 * np.exp(-(t[145:] - 145) / 15.0)  # peak at 145, decays into the gap
    x[0, LOST] = np.nan
    table = detect_transients(x, FPS, "rules", np.array(["gap", "whole"]))
    gap, whole = table[table.neuron_id == "gap"], table[table.neuron_id == "whole"]
    assert len(whole) == 1 and whole.end_frame.iloc[0] > LOST[0]  # it decays into frame 150+
    assert len(gap) == 1
    row = gap.iloc[0]
    assert abs(row.peak_frame - 145) <= 2
    assert row.end_frame == LOST[0] - 1  # clipped to the last measured frame
    assert row.start_frame == whole.start_frame.iloc[0]


def test_cell_table_counts_missing_frames(scene):
    from napari_catrack.core.transients import cell_table, detect_transients

    df = _traces(scene)
    m = long_to_matrix(df, "dff", sort_ids=False)
    table = detect_transients(m.dff, FPS, "rules", m.neuron_ids)
    measured = np.isfinite(m.dff).sum(axis=1)
    cells = cell_table(table, m.neuron_ids, measured, FPS, total_frames=m.dff.shape[1]).set_index(
        "neuron_id"
    )
    assert cells.loc["a", "frames_missing"] == len(LOST)
    assert cells.loc["a", "frames_measured"] == T - len(LOST)
    assert cells.loc["b", "frames_missing"] == 0
    n_a = cells.loc["a", "n_transients"]
    assert cells.loc["a", "event_rate_hz"] == pytest.approx(n_a / ((T - len(LOST)) / FPS))


def test_cleaning_keeps_the_gap_a_gap(scene):
    from napari_catrack.core.signals.cleaning import clean_table_column
    from napari_catrack.core.signals.params import CleaningParams

    df = _traces(scene)
    steps = CleaningParams(steps=("drift", "wavelet", "savgol"))
    clean, _ = clean_table_column(df, FPS, steps)
    a = df.neuron_id.eq("a").to_numpy()
    gap = a & df.frame.isin(LOST).to_numpy()
    assert np.isnan(clean[gap]).all()
    assert np.isfinite(clean[~gap]).all()


def test_no_coactivity_with_the_neighbour_it_was_held_on(scene):
    """Ensembles see events only: a lost neuron has none in its gap, so it does not fire with
    the neighbour its held point sat on (the old behaviour made them co-active there)."""
    from napari_catrack.core.ensembles import trains_from_table
    from napari_catrack.core.transients import detect_transients

    def together(df):
        m = long_to_matrix(df, "dff", sort_ids=False)
        table = detect_transients(m.dff, FPS, "rules", m.neuron_ids)
        trains = trains_from_table(table, n_frames=T, neuron_ids=m.neuron_ids).raster()
        ia, ic = list(m.neuron_ids).index("a"), list(m.neuron_ids).index("c")
        a_on = np.convolve(trains[ia].astype(float), np.ones(5), "same") > 0
        return int((a_on & trains[ic].astype(bool)).sum())

    assert together(_traces(scene, lost_frames="measure")) >= 1
    assert together(_traces(scene)) == 0


def test_trace_figure_draws_the_gap_as_one_grey_band(scene):
    from napari_catrack.figures.traces import trace_figure

    df = _traces(scene)
    ax = trace_figure(df, ["a"]).axes[0]
    line = np.asarray(ax.lines[0].get_ydata(), float)
    assert np.isnan(line[LOST]).all() and np.isfinite(np.delete(line, LOST)).all()
    assert len(ax.patches) == 1  # the lost stretch: one grey band (before: one per frame)
    x0, x1 = ax.patches[0].get_x(), ax.patches[0].get_x() + ax.patches[0].get_width()
    assert x0 == pytest.approx((LOST[0] - 0.5) / FPS) and x1 == pytest.approx(
        (LOST[-1] + 0.5) / FPS
    )


def test_cli_leaves_lost_frames_out_and_says_so(scene, tmp_path, capsys):
    """`catrack traces` on a one-channel movie and a tracks CSV with a status column: NaN (an
    empty CSV field, read back as NaN) at the lost frames, one line saying so, and
    --lost-frames measure gives the old values."""
    import tifffile

    from napari_catrack import cli

    green, tracks = scene
    tifffile.imwrite(tmp_path / "rec.tif", green, imagej=True, metadata={"axes": "TYX"})
    tracks.to_csv(tmp_path / "tracks.csv", index=False)
    base = ["traces", tmp_path / "rec.tif", "--tracks", tmp_path / "tracks.csv", "--fps", "10"]
    assert cli.main([str(a) for a in [*base, "-o", tmp_path / "new.csv"]]) == 0
    err = capsys.readouterr().err
    share = 100 * len(LOST) / (3 * T)
    line = (f"catrack traces: 1 neuron(s) had lost frames: {len(LOST)} samples missing "
            f"({share:.1f} %); --lost-frames measure keeps them")  # fmt: skip
    assert line in err.splitlines(), err
    argv = [*base, "--lost-frames", "measure", "-o", tmp_path / "old.csv"]
    assert cli.main([str(a) for a in argv]) == 0
    assert "samples measured at the held place" in capsys.readouterr().err
    new, old = pd.read_csv(tmp_path / "new.csv"), pd.read_csv(tmp_path / "old.csv")
    gap = (new.neuron_id == "a") & new.frame.isin(LOST)
    assert new.loc[gap, ["green", "dff"]].isna().all().all()
    assert new.loc[gap, "lost"].all() and new.loc[gap, "missing"].all()
    assert old.loc[gap, ["green", "dff"]].notna().all().all()
    assert new.loc[~gap, "green"].notna().all()


def test_nwb_series_keep_nan_and_say_how_many_were_lost(scene):
    from napari_catrack.io.nwb_ophys import _matrix, _missing_note

    df = _traces(scene)
    data, _ = _matrix(df, "dff", ["a", "b", "c"])
    assert np.isnan(data[LOST, 0]).all() and np.isfinite(data[:, 1:]).all()
    note = _missing_note(df, data)
    assert f"{len(LOST)} at frames where the neuron's track was lost" in note
    assert "NaN = a missing sample" in note
    old = _traces(scene, lost_frames="measure")
    assert _missing_note(old, _matrix(old, "dff", ["a", "b", "c"])[0]) == ""


@pytest.mark.parametrize("method", ["rules", "ksigma", "model"])
def test_a_neuron_lost_for_the_rest_of_the_recording_keeps_its_transients(method):
    """Lost during a large transient and never re-acquired (h16 review): detection fills the
    NaN tail with the last sample, a transient's top, for 900 frames. The baseline and the
    noise colour were taken from that fill, so the rules detector found 2 of these 40 small
    transients before the loss (0.4 dF/F, SNR ~8); the baseline is now from measured frames."""
    from napari_catrack.core.transients import detect_transients

    n, t = 10, np.arange(1200)
    small, loss = (60, 120, 180, 230), 293
    x = np.random.default_rng(6).normal(0, 0.05, (n, t.size))
    for s, amp in (*zip(small, [0.4] * 4), (290, 2.0)):
        x += np.where(t >= s, amp * np.exp(-(t - s) / 15.0), 0.0)
    x[:, loss:] = np.nan
    table = detect_transients(x, FPS, method, np.arange(n))
    for i in range(n):
        peaks = table.peak_frame[table.neuron_id == i].to_numpy()
        found = [s for s in small if (abs(peaks - s) <= 5).any()]
        assert found == list(small), (i, peaks.tolist())
        assert (peaks < loss).all()

"""Trace extraction on constructed stacks whose answers are known exactly, and the CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.signals.extraction import (
    TRACE_COLUMNS,
    extract_traces,
    green_to_red_matrix,
)
from napari_catrack.errors import InputError
from napari_catrack.io.tables import long_to_matrix

T, H, W = 40, 48, 64


def paint(stack: np.ndarray, centres: np.ndarray, value: float, radius: float) -> None:
    """Set every pixel within `radius` of each (frame-wise) centre to `value`."""
    yy, xx = np.mgrid[: stack.shape[1], : stack.shape[2]]
    for t in range(stack.shape[0]):
        c = centres[t] if centres.ndim == 2 else centres
        stack[t][np.hypot(yy - c[0], xx - c[1]) <= radius] = value


def tracks_for(centres: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = [
        {"neuron_id": k, "frame": t, "y": c[t, 0], "x": c[t, 1]}
        for k, c in centres.items()
        for t in range(len(c))
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def scene():
    """Two neurons moving on a flat background; green activity known per frame."""
    t = np.arange(T)
    a = np.stack([20 + 0.1 * t, 15 + 0.3 * t], axis=1)  # sub-pixel motion
    b = np.stack([30 - 0.05 * t, 45 + 0.1 * t], axis=1)
    act_a = np.where((t >= 10) & (t < 15), 1.0, 0.0)  # dF/F = 1 for five frames
    green = np.full((T, H, W), 100.0)
    red = np.full((T, H, W), 40.0)
    for k in range(T):
        paint(green[k : k + 1], a[k], 100 + 200 * (1 + act_a[k]), 5.0)
        paint(green[k : k + 1], b[k], 100 + 300, 5.0)
    paint(red, a, 40 + 150, 5.0)
    paint(red, b, 40 + 80, 5.0)
    return green, red, {"a": a, "b": b}, act_a


def test_known_intensities_background_and_ratio(scene):
    green, red, centres, act = scene
    # the painted disks (5 px) cover the 3 px ROI; the annulus (9-13 px) sees only background
    df = extract_traces(green, tracks_for(centres), red, radius=3, bg_inner=9, bg_outer=13, fps=5)
    assert list(df.columns[:7]) == TRACE_COLUMNS
    a = df[df.neuron_id == "a"]
    b = df[df.neuron_id == "b"]
    np.testing.assert_allclose(a.green, 200 * (1 + act))
    np.testing.assert_allclose(a.red, 150)
    np.testing.assert_allclose(a.green_bg, 100)
    np.testing.assert_allclose(a.red_bg, 40)
    np.testing.assert_allclose(a.ratio, 200 * (1 + act) / 150)
    np.testing.assert_allclose(a.dff, act, atol=1e-12)
    np.testing.assert_allclose(b.green, 300)
    np.testing.assert_allclose(b.dff, 0, atol=1e-12)
    np.testing.assert_allclose(a.time_s, np.arange(T) / 5)
    assert not df[["saturated", "missing", "edge", "red_invalid"]].any().any()
    yy, xx = np.mgrid[:H, :W]
    expected = [
        int((np.hypot(yy - y, xx - x) <= 3).sum())
        for y, x in np.concatenate(list(centres.values()))
    ]
    assert df.roi_pixels.tolist() == expected  # exactly the pixels within 3 px of the centre


def test_roi_mean_is_exact_on_a_gradient():
    # intensity = x: a symmetric ROI's mean equals the centre's x when the ROI is symmetric
    stack = np.broadcast_to(np.arange(W, dtype=float), (3, H, W)).copy()
    tr = pd.DataFrame({"neuron_id": "n", "frame": [0, 1, 2], "y": 20.0, "x": [10.0, 20.0, 30.0]})
    df = extract_traces(stack, tr, background="none", radius=2.5)
    np.testing.assert_allclose(df.green, [10, 20, 30])


def test_gaussian_weighting_lowers_noise_on_a_blurred_neuron():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:H, :W]
    spot = 400 * np.exp(-((yy - 24) ** 2 + (xx - 30) ** 2) / (2 * 1.7**2))
    stack = 100 + spot[None] + rng.normal(0, 20, (200, H, W))
    tr = pd.DataFrame({"neuron_id": "n", "frame": np.arange(200), "y": 24.0, "x": 30.0})
    kw = dict(radius=3, background="none")
    gauss = extract_traces(stack, tr, **kw)
    flat = extract_traces(stack, tr, weighting="uniform", **kw)
    # same expected value as the noise-free image gives, with less scatter
    for df, w in ((gauss, "gaussian"), (flat, "uniform")):
        clean = extract_traces(100 + spot[None].repeat(2, 0), tr.iloc[:2], weighting=w, **kw)
        assert df.green.mean() == pytest.approx(clean.green.iloc[0], rel=0.01)
    # noise relative to the neuron's signal above the known offset (100): ~9 % better in theory
    rel = [df.green.std() / (df.green.mean() - 100) for df in (gauss, flat)]
    assert rel[0] < 0.96 * rel[1]
    with pytest.raises(InputError, match="weighting"):
        extract_traces(stack, tr, weighting="box")


def test_ratio_cancels_a_common_mode_dip(scene):
    green, red, centres, act = scene
    dip = np.ones(T)
    dip[25:28] = 0.6  # defocus: everything dimmer in both channels
    g, r = green * dip[:, None, None], red * dip[:, None, None]
    df = extract_traces(g, tracks_for(centres), r, radius=3, bg_inner=9, bg_outer=13)
    a = df[df.neuron_id == "a"]
    np.testing.assert_allclose(a.dff, act, atol=1e-12)
    assert a.dff_green.iloc[26] == pytest.approx(-0.4)


def test_red_is_sampled_through_the_alignment(scene):
    green, _, centres, _ = scene
    align = {"dy": 2.5, "dx": -3.0, "rotation_deg": 4.0}
    m = green_to_red_matrix(align, (H, W))
    red = np.full((T, H, W), 40.0)
    red_pos = {k: c @ m[:2, :2].T + m[:2, 2] for k, c in centres.items()}
    for k, c in red_pos.items():
        paint(red, c, 40 + (150 if k == "a" else 80), 5.0)
    tr = tracks_for(centres)
    good = extract_traces(green, tr, red, transform=align, radius=3, bg_inner=9, bg_outer=13)
    np.testing.assert_allclose(good[good.neuron_id == "a"].red, 150)
    np.testing.assert_allclose(good[good.neuron_id == "b"].red, 80)
    naive = extract_traces(green, tr, red, radius=3, bg_inner=9, bg_outer=13)
    assert naive[naive.neuron_id == "a"].red.mean() < 140  # misses part of the neuron


def test_inverse_mapping_matches_the_forward_convention():
    """ARCHITECTURE.md: red p lands at R(p - c) + c + d in green; our matrix must undo that."""
    shape = (H, W)
    c = np.array([(H - 1) / 2, (W - 1) / 2])
    th = np.deg2rad(7.0)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    p = np.array([[3.0, 5.0], [40.0, 10.0], [20.0, 60.0]])
    q = (p - c) @ rot.T + c + np.array([1.5, -2.0])
    m = green_to_red_matrix({"dy": 1.5, "dx": -2.0, "rotation_deg": 7.0}, shape)
    np.testing.assert_allclose(q @ m[:2, :2].T + m[:2, 2], p, atol=1e-12)
    # the project's own AlignmentTransform, where present, agrees
    rigid = pytest.importorskip("napari_catrack.core.rigid")
    t = rigid.AlignmentTransform(1.5, -2.0, 7.0, 1.2)
    m2 = green_to_red_matrix(t, shape)
    np.testing.assert_allclose(t.map_points(q, shape, inverse=True), q @ m2[:2, :2].T + m2[:2, 2])


def test_lazy_dask_chunks_give_the_same_answer(scene):
    da = pytest.importorskip("dask.array")
    green, red, centres, _ = scene
    tr = tracks_for(centres)
    ref = extract_traces(green, tr, red, fps=5)
    calls = []
    lazy = extract_traces(
        da.from_array(green, chunks=(4, H, W)),
        tr,
        da.from_array(red, chunks=(4, H, W)),
        fps=5,
        chunk_frames=7,
        progress=lambda done, total: calls.append((done, total)),
    )
    pd.testing.assert_frame_equal(ref, lazy)
    assert calls[-1] == (T, T) and len(calls) == 6


def test_saturation_and_missing_frames_are_flagged(scene):
    green, red, centres, _ = scene
    g = green.astype(np.uint16)
    y, x = np.round(centres["a"][5]).astype(int)
    g[5, y, x] = 65535  # one saturated pixel in neuron a, frame 5
    gf = green.copy()
    gf[7] = np.nan  # a dropped frame
    tr = tracks_for(centres)
    tr = tr[~((tr.neuron_id == "b") & (tr.frame == 12))]  # a tracking gap
    with pytest.warns(UserWarning, match="1 of 80"):
        df = extract_traces(g, tr, red.astype(np.uint16))
    sat = df[df.saturated]
    assert list(zip(sat.neuron_id, sat.frame)) == [("a", 5)]
    with pytest.warns(UserWarning, match="no usable ROI"):
        df = extract_traces(gf, tr, red)
    miss = df[df.missing]
    assert sorted(zip(miss.neuron_id, miss.frame)) == [("a", 7), ("b", 7), ("b", 12)]
    assert miss[["green", "red", "ratio", "dff"]].isna().all().all()
    assert df[~df.missing][["green", "ratio", "dff"]].notna().all().all()


def test_mask_roi_and_edges():
    stack = np.zeros((2, H, W))
    stack[:, 10, 10:13] = 6.0  # a horizontal bar
    mask = np.zeros((3, 5), bool)
    mask[1, 1:4] = True
    tr = pd.DataFrame({"neuron_id": "n", "frame": [0, 1], "y": [10.0, 0.0], "x": [11.0, 0.0]})
    df = extract_traces(stack, tr, mask=mask, background="none")
    assert df.green.iloc[0] == 6.0 and df.roi_pixels.iloc[0] == 3
    assert df.edge.iloc[1] and df.roi_pixels.iloc[1] == 2  # half the bar is off the image


def test_bad_input(scene):
    green, red, centres, _ = scene
    tr = tracks_for(centres)
    with pytest.raises(InputError, match="lacks column"):
        extract_traces(green, tr.drop(columns="x"))
    with pytest.raises(InputError, match="twice"):
        extract_traces(green, pd.concat([tr, tr.iloc[:1]]))
    with pytest.raises(InputError, match="no track row falls inside it"):
        extract_traces(green, tr.assign(frame=tr.frame + 1000))
    with pytest.warns(UserWarning, match="outside the recording"):
        df = extract_traces(green, pd.concat([tr, tr.iloc[:2].assign(frame=[T, T + 5])]))
    assert df.frame.max() == T - 1
    with pytest.raises(InputError, match="differ in shape"):
        extract_traces(green, tr, red[:, :10])
    with pytest.raises(InputError, match="radius"):
        extract_traces(green, tr, radius=0)
    with pytest.raises(InputError, match="rotation_deg"):
        extract_traces(green, tr, red, transform={"dy": 1})
    with pytest.raises(InputError, match="frame rate"):
        extract_traces(green, tr, dff_baseline="running")


def test_tracks_of_another_recording_are_refused(scene):
    """Tracks from a longer recording (11,730 of 11,776 rows past this one's end) only warned
    "ignoring N track rows with frames outside the recording" and gave a tiny table before h22.
    Fewer than half the rows inside: refused, saying both frame ranges; a few rows outside still
    only warn (`test_bad_input`)."""
    green = scene[0]
    n = green.shape[0]
    tr = pd.DataFrame({"neuron_id": 0, "frame": np.arange(4 * n), "y": 20.0, "x": 20.0})
    with pytest.raises(InputError) as err:
        extract_traces(green, tr)
    assert str(err.value) == (
        f"the tracks span frames 0..{4 * n - 1} but the recording has {n} frames (0..{n - 1}): "
        f"only {n} of {4 * n} track rows fall inside it (less than 50%): tracks of another "
        "recording?"
    )
    with pytest.warns(UserWarning, match="ignoring 3 track rows"):  # 3 of n + 3 outside
        assert extract_traces(green, tr.iloc[: n + 3]).frame.max() == n - 1


def test_zero_red_gives_nan_ratio_and_flag_not_inf(scene):
    green, red, centres, _ = scene
    r = red.copy()
    r[3] = 40.0  # red neuron vanishes: background-subtracted red = 0
    with pytest.warns(RuntimeWarning, match="ratio set to NaN"):
        df = extract_traces(green, tracks_for(centres), r, radius=3, bg_inner=9, bg_outer=13)
    bad = df[df.red_invalid]
    assert sorted(bad.frame.unique()) == [3] and len(bad) == 2
    assert bad.ratio.isna().all() and bad.dff.isna().all()
    assert np.isfinite(df.ratio[~df.red_invalid]).all()


def test_bleaching_correction_before_the_ratio():
    n, fps = 600, 10.0
    t = np.arange(n) / fps
    act = np.where((t > 20) & (t < 22), 1.0, 0.0)
    centre = np.array([12.0, 12.0])
    green = np.full((n, 24, 24), 100.0)
    red = np.full((n, 24, 24), 40.0)
    for k in range(n):
        paint(green[k : k + 1], centre, 100 + 200 * (1 + act[k]) * np.exp(-t[k] / 40), 5.0)
        paint(red[k : k + 1], centre, 40 + 150 * np.exp(-t[k] / 80), 5.0)
    tr = pd.DataFrame({"neuron_id": "n", "frame": np.arange(n), "y": 12.0, "x": 12.0})
    kw = dict(radius=3, bg_inner=6, bg_outer=9, fps=fps)
    plain = extract_traces(green, tr, red, **kw)
    fixed = extract_traces(green, tr, red, bleach="exponential", **kw)
    quiet = act == 0
    assert np.abs(plain.dff_green[quiet]).max() > 0.5  # bleaching looks like a huge decline
    np.testing.assert_allclose(fixed.dff_green[quiet], 0, atol=0.05)
    np.testing.assert_allclose(fixed.dff[quiet], 0, atol=0.05)
    assert fixed.dff[~quiet].min() > 0.9
    with pytest.raises(InputError, match="frame rate"):
        extract_traces(green, tr, red, bleach="exponential")


def test_traces_to_matrix_roundtrip(scene):
    green, red, centres, act = scene
    df = extract_traces(green, tracks_for(centres), red, radius=3, bg_inner=9, bg_outer=13)
    m = long_to_matrix(df.sample(frac=1, random_state=0), "dff")
    assert m.dff.shape == (2, T) and list(m.frames) == list(range(T))
    np.testing.assert_allclose(m.dff[list(m.neuron_ids).index("a")], act, atol=1e-12)


# ------------------------------------------------------------------ CLI
def _write_recording(tmp_path, green, red=None, fps=5.0):
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "rec.tif"
    data = green[:, None] if red is None else np.stack([green, red], axis=1)
    tifffile.imwrite(
        path,
        data.astype(np.uint16),
        imagej=True,
        metadata={"axes": "TCYX", "finterval": 1.0 / fps},
    )
    return path


def _cli(argv):
    cli = pytest.importorskip("napari_catrack.cli")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cli.main([str(a) for a in argv])


def test_cli_roundtrip_two_channels(scene, tmp_path, capsys):
    green, red, centres, act = scene
    rec = _write_recording(tmp_path, green, red)
    tracks = tmp_path / "tracks.csv"
    tracks_for(centres).to_csv(tracks, index=False)
    align = tmp_path / "align.json"
    align.write_text(json.dumps({"dy": 0.0, "dx": 0.0, "rotation_deg": 0.0}))
    out = tmp_path / "traces.csv"
    args = ["traces", rec, "--tracks", tracks, "--align", align, "--fps", 5, "-o", out]
    code = _cli([*args, "--radius", 3, "--bg-inner", 9, "--bg-outer", 13, "--clean"])
    assert code == 0, capsys.readouterr().err
    df = pd.read_csv(out)
    assert list(df.columns[:7]) == TRACE_COLUMNS
    a = df[df.neuron_id == "a"]
    np.testing.assert_allclose(a.green, 200 * (1 + act))
    np.testing.assert_allclose(a.dff, act, atol=1e-9)
    np.testing.assert_allclose(a.time_s, np.arange(T) / 5)
    assert "dff_clean" in df.columns

    out2 = tmp_path / "green_only.csv"
    assert _cli([*args[:-1], out2, "--no-ratio"]) == 0
    said = capsys.readouterr()  # the result line is on stdout, warnings on stderr
    assert "green dF/F0" in said.out and "differs" not in said.err  # --fps 5 is the file's 5 Hz
    # an --fps that contradicts the file's own rate is used, but said (h9 review)
    assert _cli([*args[:-4], "--fps", 10, "-o", out2]) == 0
    assert "--fps 10 differs from the 5 Hz the file states; using --fps" in capsys.readouterr().err
    np.testing.assert_allclose(pd.read_csv(out2).time_s.iloc[:3], [0.0, 0.1, 0.2])


def test_cli_single_channel_and_errors(scene, tmp_path, capsys):
    green, _, centres, act = scene
    rec = _write_recording(tmp_path, green)
    tracks = tmp_path / "tracks.csv"
    tracks_for(centres).to_csv(tracks, index=False)
    out = tmp_path / "t.csv"
    code = _cli(["traces", rec, "--tracks", tracks, "--bg-inner", 9, "--bg-outer", 13, "-o", out])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "single-channel" in err
    df = pd.read_csv(out)
    assert df.red.isna().all() and df.ratio.isna().all()
    np.testing.assert_allclose(df[df.neuron_id == "a"].dff, act, atol=1e-9)

    bad = tmp_path / "bad.csv"
    pd.DataFrame({"neuron_id": ["a"], "frame": [0], "y": [1.0]}).to_csv(bad, index=False)
    assert _cli(["traces", rec, "--tracks", bad, "-o", tmp_path / "x.csv"]) == 2
    assert "lacks column" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
    assert (
        _cli(["traces", rec, "--tracks", tracks, "--align", tmp_path / "no.json", "-o", out]) == 2
    )
    assert "alignment file not found" in capsys.readouterr().err


def test_cli_refuses_bad_values_before_extracting(scene, tmp_path, capsys, monkeypatch):
    """A non-positive --saturation (every pixel "saturated") and an unknown --wavelet are one
    line before any frame is read, not a traceback after the whole extraction."""
    from napari_catrack.core.signals import extraction

    green, _, centres, _ = scene
    rec = _write_recording(tmp_path, green)
    tracks = tmp_path / "tracks.csv"
    tracks_for(centres).to_csv(tracks, index=False)
    monkeypatch.setattr(extraction, "extract_traces", lambda *a, **k: pytest.fail("extracted"))
    args = ["traces", rec, "--tracks", tracks, "--fps", 5, "-o", tmp_path / "t.csv"]
    for extra, message in ((["--saturation", "-5"], "--saturation must be a positive pixel value"),
                           (["--saturation", "0"], "got 0.0"),
                           (["--clean", "--wavelet", "nonexist"], "unknown wavelet 'nonexist'")):  # fmt: skip
        assert _cli([*args, *extra]) == 2
        assert message in capsys.readouterr().err


# ------------------------------------------------------------------ figures
def test_trace_and_cleaning_figures(scene, tmp_path):
    from napari_catrack.core.signals.cleaning import clean_traces
    from napari_catrack.figures.traces import cleaning_steps_figure, trace_figure

    green, red, centres, act = scene
    df = extract_traces(green, tracks_for(centres), red, radius=3, bg_inner=9, bg_outer=13, fps=5)
    df.loc[(df.neuron_id == "a") & (df.frame == 3), "missing"] = True
    fig = trace_figure(df, ["a"], panels=("green", "red", "ratio", "dff"))
    axes = fig.get_axes()
    assert [ax.get_ylabel() for ax in axes] == [
        "green (a.u.,\nbg-sub.)",
        "red (a.u.,\nbg-sub.)",
        "ratio G/R",
        "ΔF/F",
    ]
    np.testing.assert_allclose(axes[3].lines[0].get_ydata(), act, atol=1e-12)
    assert len(axes[0].patches) == 1  # the missing frame is shaded
    fig.savefig(tmp_path / "t.svg")
    assert (tmp_path / "t.svg").stat().st_size > 1000
    two = trace_figure(df, ["a", "b"], panels=("dff",))
    assert len(two.get_axes()[0].lines) == 2
    with pytest.raises(InputError, match="not in the traces"):
        trace_figure(df, ["zzz"])
    with pytest.raises(InputError, match="unknown panel"):
        trace_figure(df, ["a"], panels=("nope",))

    arr = long_to_matrix(df, "dff", sort_ids=False).dff
    _, _, inter = clean_traces(arr, 5.0, steps=["drift", "savgol"], return_intermediates=True)
    raw = long_to_matrix(df, "green", sort_ids=False).dff
    fig2 = cleaning_steps_figure(inter, 5.0, neuron=0, raw=raw)
    labels = [ax.get_ylabel() for ax in fig2.get_axes()]
    assert labels == ["raw fluorescence", "before cleaning", "drift", "savgol"]
    fig2.savefig(tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_real_worm_volumes_neurons_brighter_than_random_spots():
    """Real two-channel head volumes of a moving worm (targettrack, two time points) with
    annotated neurons: ROIs on annotated neurons are much brighter than ROIs at random places,
    and unannotated neurons come out as missing, not as numbers."""
    from pathlib import Path

    base = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "worm"
    ex = base / "targettrack" / "data_points" / "ex2"
    if not ex.exists():
        pytest.skip("not found: ../shared/data/worm/targettrack/data_points/ex2")
    vols = [np.load(ex / f"frame_{k}.npy") for k in ("gt", "tar")]  # (C, X, Y, Z) uint8
    stack = np.stack([v.max(axis=3).transpose(0, 2, 1) for v in vols], axis=1)  # (C, T, Y, X)
    red, green = stack[0], stack[1]  # channel 0 = structural (red), 1 = activity (green)
    pts = [np.load(ex / f"pts_{k}.npy").astype(float) for k in ("gt", "tar")]
    tracks = pd.concat(
        [
            pd.DataFrame({"neuron_id": np.arange(len(p)), "frame": t, "y": p[:, 1], "x": p[:, 0]})
            for t, p in enumerate(pts)
        ]
    )
    with pytest.warns(UserWarning, match="no usable ROI"):
        df = extract_traces(green, tracks, red, radius=2, background="none", saturation=None)
    annotated = np.stack([np.isfinite(p).all(1) for p in pts], axis=1).ravel()  # neuron-major
    assert (df.missing.to_numpy() == ~annotated).all()
    rng = np.random.default_rng(0)
    h, w = red.shape[1:]
    rand = pd.DataFrame(
        {
            "neuron_id": np.repeat(np.arange(200), 2),
            "frame": np.tile([0, 1], 200),
            "y": np.repeat(rng.uniform(5, h - 5, 200), 2),
            "x": np.repeat(rng.uniform(5, w - 5, 200), 2),
        }
    )
    ref = extract_traces(green, rand, red, radius=2, background="none")
    on = df[~df.missing]
    assert on.red.median() > 5 * max(ref.red.median(), 1.0)
    assert on.green.median() > ref.green.median()


def test_integer_ids_stay_integers_when_a_row_lacks_its_id():
    green = np.full((4, 20, 20), 100.0)
    tracks = pd.DataFrame(
        {"neuron_id": [1, 1, np.nan, 2], "frame": [0, 1, 0, 0], "y": 10.0, "x": 10.0}
    )
    with pytest.warns(UserWarning, match="without a neuron_id"):
        out = extract_traces(green, tracks)
    assert sorted(out["neuron_id"].astype(str).unique()) == ["1", "2"]


def test_extraction_stops_on_cancel_and_reports_progress(scene):
    from napari_catrack.errors import Cancelled

    green, red, centres, _ = scene
    seen = []
    extract_traces(green, tracks_for(centres), red, chunk_frames=8,
                   progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    assert seen == [(8, T), (16, T), (24, T), (32, T), (40, T)]
    with pytest.raises(Cancelled, match="trace extraction cancelled"):
        extract_traces(green, tracks_for(centres), red, chunk_frames=8,
                       cancel=lambda: len(seen) > 6,
                       progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    assert len(seen) == 7  # two chunks ran, then it stopped


def test_low_red_warning_names_the_setting_a_user_can_change(scene):
    """Not the internal `min_red` (docs review 7, item 10): the widget's label and the option."""
    green, red, centres, _ = scene
    red = red.copy()
    paint(red[3:5], centres["a"][3], 40.0, 5.0)  # neuron a's red gone in frames 3 and 4
    message = (r"red intensity too low \(below 0.05 of the neuron's 90th-percentile red: min "
               r"red fraction, --min-red-fraction\) in 2 samples")  # fmt: skip
    with pytest.warns(RuntimeWarning, match=message):
        extract_traces(green, tracks_for(centres), red, radius=3, bg_inner=9, bg_outer=13)


def test_dff_panel_says_dr_r0_when_the_table_holds_the_ratio(scene):
    """Methods review (h10): the `dff` column is dR/R0 when a red channel was used; the figure
    called it dF/F. A common-mode dip (both channels dim) makes the two differ."""
    from napari_catrack.figures.traces import trace_figure

    green, red, centres, _ = scene
    green, red = green.copy(), red.copy()
    green[20:25] *= 0.7
    red[20:25] *= 0.7
    tracks = tracks_for(centres)
    df = extract_traces(green, tracks, red, radius=3, bg_inner=9, bg_outer=13, fps=5)
    labels = [ax.get_ylabel() for ax in trace_figure(df, ["a"], panels=("dff", "dff_green"))
              .get_axes()]  # fmt: skip
    assert labels == ["ΔR/R₀", "green ΔF/F"]
    df["dff_clean"] = df["dff"]
    assert trace_figure(df, ["a"], panels=("cleaned",)).get_axes()[0].get_ylabel() == (
        "cleaned ΔR/R₀"
    )
    green_only = extract_traces(green, tracks, None, radius=3, bg_inner=9, bg_outer=13, fps=5)
    assert trace_figure(green_only, ["a"], panels=("dff",)).get_axes()[0].get_ylabel() == "ΔF/F"
    no_ratio = extract_traces(
        green, tracks, red, radius=3, bg_inner=9, bg_outer=13, fps=5, use_ratio=False
    )
    assert trace_figure(no_ratio, ["a"], panels=("dff",)).get_axes()[0].get_ylabel() == "ΔF/F"


@pytest.mark.parametrize("weighting", ["uniform", "gaussian"])
def test_roi_mean_and_annulus_background_against_a_pixel_reference(weighting):
    """Methods review (h10): a noisy image with a background gradient; the ROI average (plain or
    Gaussian, sigma = radius/2) and the annulus's 20th percentile computed pixel by pixel."""
    rng = np.random.default_rng(5)
    nt, radius, r_in, r_out = 6, 3.0, 5.0, 9.0
    yy, xx = np.mgrid[:H, :W]
    green = 50 + 0.8 * xx + 0.3 * yy + rng.normal(0, 4, (nt, H, W))
    centre = np.array([24.3, 31.6])
    d2 = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2
    green[:, d2 <= radius**2] += 200
    tracks = tracks_for({"n": np.tile(centre, (nt, 1))})
    df = extract_traces(green, tracks, None, radius=radius, bg_inner=r_in, bg_outer=r_out,
                        weighting=weighting, fps=5)  # fmt: skip
    roi, ring = d2 <= radius**2, (d2 >= r_in**2) & (d2 <= r_out**2)
    if weighting == "uniform":
        w = roi.astype(float)
    else:
        w = np.where(roi, np.exp(-d2 / (2 * (radius / 2) ** 2)), 0.0)
    ref_raw = (green * w).sum((1, 2)) / w.sum()
    ref_bg = np.percentile(green[:, ring], 20, axis=1)
    np.testing.assert_allclose(df["green_raw"], ref_raw, rtol=1e-5)
    np.testing.assert_allclose(df["green_bg"], ref_bg, rtol=1e-5)
    np.testing.assert_allclose(df["green"], ref_raw - ref_bg, rtol=1e-5)


def test_a_neuron_with_f0_at_or_below_zero_is_named_in_the_warning(scene):
    """A track on plain background: background-subtracted F is 0, so F0 <= 0 and dF/F is NaN;
    the warning said only how many samples, not which neuron."""
    green, _, centres, _ = scene
    tracks = tracks_for({**centres, "lost": np.tile([8.0, 8.0], (T, 1))})
    with pytest.warns(RuntimeWarning, match=r"F0 <= 0 .* of 1 of 3 trace\(s\) \(neuron lost\)"):
        df = extract_traces(green, tracks, None, radius=3, bg_inner=9, bg_outer=13, fps=5)
    assert df.loc[df.neuron_id == "lost", "dff"].isna().all()
    assert df.loc[df.neuron_id != "lost", "dff"].notna().all()


def test_nan_or_inf_pixels_inside_a_roi_are_said(scene):
    """Infinite or NaN pixels inside a neuron's ROI were left out of its mean without a word
    (bad-input sweep h12: one frame kept 1 of 29 pixels); the value stays the mean of the
    finite pixels, and a warning names how many neuron-frames and the first one."""
    green, red, centres, _ = scene
    g = green.copy()
    y, x = np.round(centres["a"][4]).astype(int)
    g[4, y - 1 : y + 2, x - 1 : x + 2] = np.inf  # 9 pixels of neuron a at frame 4
    with pytest.warns(
        UserWarning, match=r"1 of \d+ neuron-frames were measured without some"
    ) as rec:
        df = extract_traces(g, tracks_for(centres), red, radius=3, bg_inner=9, bg_outer=13)
    assert "neuron a, frame 4" in str(rec[0].message)
    row = df[(df.neuron_id == "a") & (df.frame == 4)].iloc[0]
    whole = df[(df.neuron_id == "a") & (df.frame == 3)].iloc[0]
    assert row.roi_pixels == whole.roi_pixels - 9 and np.isfinite(row.green)
    with warnings.catch_warnings():  # finite movies: no such warning
        warnings.simplefilter("error", UserWarning)
        extract_traces(green, tracks_for(centres), red, radius=3, bg_inner=9, bg_outer=13)


def test_a_chunk_of_frames_without_any_track_position(scene):
    """A chunk of frames where no neuron has a position (a long track gap) returns early from the
    sampler: every per-row result must exist there too (the NaN-pixel flag was missing:
    KeyError, found by the h12 review)."""
    green, red, centres, _ = scene
    tracks = tracks_for(centres)
    tracks = tracks[tracks.frame.isin([0, len(green) - 1])]  # positions at the two ends only
    with pytest.warns(UserWarning, match="no usable ROI"):
        df = extract_traces(green, tracks, red, radius=3, bg_inner=9, bg_outer=13, chunk_frames=4)
    assert df.missing.sum() == 2 * (len(green) - 2)


def test_the_f0_warning_says_which_dff_it_is_of(scene):
    """h22 walk: two-channel traces on the targettrack volumes printed "baseline F0 <= 0 in 20
    samples of 10 of 23 trace(s) ...: dF/F set to NaN there" and then the same words with 6 and
    3: one was the green dF/F0 (column dff_green), the other the ratio's dR/R0 (column dff),
    and nothing said which. Each now names its own."""
    green, red, centres, _ = scene
    tracks = tracks_for({**centres, "lost": np.tile([8.0, 8.0], (T, 1))})
    with pytest.warns(RuntimeWarning) as seen:
        extract_traces(green, tracks, red, radius=3, bg_inner=9, bg_outer=13, fps=5)
    texts = [str(w.message) for w in seen if "F0 <= 0" in str(w.message)]
    assert texts and any(t.endswith("green dF/F0 (column dff_green) set to NaN there")
                         for t in texts), texts  # fmt: skip
    with pytest.warns(RuntimeWarning) as seen:
        extract_traces(green, tracks, None, radius=3, bg_inner=9, bg_outer=13, fps=5)
    texts = [str(w.message) for w in seen if "F0 <= 0" in str(w.message)]
    assert texts == [t for t in texts if t.endswith("green dF/F0 (column dff) set to NaN there")]
    assert texts, texts

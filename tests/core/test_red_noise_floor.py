"""The red noise floor of the two-channel ratio (h17): red that is not clearly above background is
no red to divide by, whatever the neuron's own median red is.

h16's GUI walk: on the worm sample a track ran onto background at the image edge; its red was
0.6 above background, the ratio 14, dR/R0 35, and the transient detector called it a transient.
The relative rule (`min_red_fraction` of the neuron's median red) missed it because that
neuron's median red was itself near background. Scenes with pixel noise of known sd.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.signals.extraction import extract_traces
from napari_catrack.core.signals.params import TracesParams, recorded_values
from napari_catrack.io.tables import long_to_matrix

T, H, W, FPS = 240, 64, 64, 10.0
RED_BG, GREEN_BG, RED_SD, GREEN_SD = 150.0, 100.0, 10.0, 8.0
A, B, C = (18.0, 18.0), (46.0, 46.0), (18.0, 46.0)  # neuron, empty background, dim neuron
AWAY = slice(60, 200)  # the frames where neuron a's track runs onto the background at B
BURSTS = (20, 215)  # green bursts of neuron a, while its track is on it


def _blob(value: float, centre: tuple[float, float]) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return value * (np.hypot(yy - centre[0], xx - centre[1]) <= 4.5)


@pytest.fixture(scope="module")
def scene():
    """Neuron a (red +80) at A, a dim-but-present red neuron c (red +25: 2.5 pixel sd, steady)
    at C, nothing at B; Gaussian pixel noise in both channels. Neuron a's track is at B for
    frames 60-199 (longer than on the neuron, so its median red is near background)."""
    rng = np.random.default_rng(7)
    t = np.arange(T)
    act = np.zeros(T)
    for b in BURSTS:
        act[b:] += np.exp(-(t[b:] - b) / 8.0)  # dF/F 1 decaying over ~0.8 s
    red = RED_BG + _blob(80.0, A) + _blob(25.0, C) + rng.normal(0, RED_SD, (T, H, W))
    green = GREEN_BG + rng.normal(0, GREEN_SD, (T, H, W))
    green += _blob(40.0, A)[None] * (1 + act)[:, None, None] + _blob(20.0, C)[None]
    ya = np.where((t >= AWAY.start) & (t < AWAY.stop), B[0], A[0])
    xa = np.where((t >= AWAY.start) & (t < AWAY.stop), B[1], A[1])
    tracks = pd.concat(
        [
            pd.DataFrame({"neuron_id": "a", "frame": t, "y": ya, "x": xa}),
            pd.DataFrame({"neuron_id": "c", "frame": t, "y": C[0], "x": C[1]}),
        ]
    )
    return green.astype(np.float32), red.astype(np.float32), tracks


def _traces(scene, **changes) -> pd.DataFrame:
    green, red, tracks = scene
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return extract_traces(green, tracks, red, fps=FPS, **changes)


def _transient_frames(traces: pd.DataFrame, neuron: str) -> list[tuple[int, int]]:
    from napari_catrack.core.transients.detect import detect_transients
    from napari_catrack.core.transients.params import TransientParams

    m = long_to_matrix(traces, "dff", sort_ids=False)
    found = detect_transients(m.dff, FPS, None, m.neuron_ids, TransientParams())
    rows = found[found.neuron_id.astype(str) == neuron]
    return list(zip(rows.start_frame.astype(int), rows.end_frame.astype(int), strict=True))


def test_a_track_on_background_has_no_ratio_and_no_transient_there(scene):
    df = _traces(scene)
    a = df[df.neuron_id == "a"].set_index("frame")
    away = a.loc[AWAY.start : AWAY.stop - 1]
    # red at B is background: the ratio is noise over noise (the old rule let 100+ of these
    # through, up to ratio 40); now each frame is red_invalid, but for chance (3 sd)
    assert away.red_invalid.mean() >= 0.97, away.red_invalid.mean()
    assert away.ratio[away.red_invalid].isna().all() and away.dff[away.red_invalid].isna().all()
    on = a.drop(away.index)
    assert not on.red_invalid.any() and on.ratio.notna().all()  # the neuron itself: kept
    spans = _transient_frames(df, "a")
    assert not [s for s in spans if s[1] >= AWAY.start and s[0] < AWAY.stop], spans
    # the planted bursts, measured on the neuron, are still found
    for b in BURSTS:
        assert any(s <= b + 3 and e >= b for s, e in spans), (b, spans)


def test_a_dim_but_present_red_neuron_keeps_its_ratio(scene):
    df = _traces(scene)
    c = df[df.neuron_id == "c"]
    assert not c.red_invalid.any()
    assert c.ratio.notna().all() and (c.red > c.red_floor).all()
    # the floor is below the dim neuron's red by many noise sd, not by luck
    assert (c.red / c.red_floor).min() > 1.5


def test_the_floor_is_the_noise_of_an_roi_on_background():
    """`red_floor` = offset + k·sd of an ROI holding background alone: measured on pure noise,
    the background-subtracted red minus the offset has mean 0 and sd 1 in those units, for
    the Gaussian-weighted and the uniform ROI, so k counts real noise sd."""
    rng = np.random.default_rng(3)
    n_t = 200
    red = (RED_BG + rng.normal(0, RED_SD, (n_t, H, W))).astype(np.float32)
    green = (GREEN_BG + rng.normal(0, GREEN_SD, (n_t, H, W))).astype(np.float32)
    centres = [(y, x) for y in (14.0, 32.0, 50.0) for x in (14.0, 32.0, 50.0)]
    tracks = pd.DataFrame(
        [{"neuron_id": f"b{i}", "frame": t, "y": y, "x": x}
         for i, (y, x) in enumerate(centres) for t in range(n_t)]
    )  # fmt: skip
    for weighting in ("gaussian", "uniform"):
        floors = []
        for k in (3.0, 4.0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                df = extract_traces(green, tracks, red, weighting=weighting, red_noise_floor=k)
            floors.append(df.red_floor.to_numpy())
        sd = floors[1] - floors[0]
        offset = floors[0] - 3.0 * sd
        z = (df.red.to_numpy() - offset) / sd
        assert abs(z.mean()) < 0.15, (weighting, z.mean())
        assert 0.85 < z.std() < 1.15, (weighting, z.std())
        # 0.84 pixel sd: where an ROI on background sits above the 20th percentile
        np.testing.assert_allclose(np.median(offset), 0.8416 * RED_SD, rtol=0.1)


def test_zero_turns_the_rule_off_and_the_relative_rule_alone_misses_the_background(scene):
    """The pre-h18 relative rule (0.05 of the median red) alone missed the track on background;
    0.2 of the 90th-percentile red (the neuron's red when the track is on it; h18's default,
    an option since h18-rev2) does not."""
    pre_h18 = {"min_red_fraction": 0.05, "red_reference_percentile": 50.0}
    df = _traces(scene, red_noise_floor=0.0, **pre_h18)
    a = df[df.neuron_id == "a"].set_index("frame").loc[AWAY.start : AWAY.stop - 1]
    assert a.red_invalid.mean() < 0.5  # what the h16 walk saw: most of it divided
    assert df.red_floor.isna().all()
    df = _traces(scene, red_noise_floor=0.0, min_red_fraction=0.2)
    a = df[df.neuron_id == "a"].set_index("frame")
    assert a.loc[AWAY.start : AWAY.stop - 1].red_invalid.all()
    assert not a.drop(range(AWAY.start, AWAY.stop)).red_invalid.any()  # on the neuron: kept


def test_the_warning_names_both_rules_with_their_counts(scene):
    green, red, tracks = scene
    with pytest.warns(RuntimeWarning) as seen:  # (the pre-h18 relative rule: both rules hit)
        df = extract_traces(green, tracks, red, fps=FPS, min_red_fraction=0.05,
                            red_reference_percentile=50.0)  # fmt: skip
    text = " ".join(str(w.message) for w in seen if "red intensity" in str(w.message))
    n_noise = int((df.red_invalid & (df.red > df.groupby("neuron_id").red.transform("median")
                                     * 0.05)).sum())  # fmt: skip
    assert "not 3 noise sd above background: red noise floor, --red-noise-floor" in text
    assert f"--red-noise-floor) in {n_noise}" in text
    assert f"in {int(df.red_invalid.sum())} samples" in text


def test_with_both_rules_each_count_stands_before_its_rule_not_after_the_option():
    """h17 walk: "--red-noise-floor: 8" after the option read as the option's value (3)."""
    from napari_catrack.core.signals.extraction import _warn_low_red

    by_fraction = np.zeros(40, bool)
    by_fraction[:17] = True
    by_noise = np.zeros(40, bool)
    by_noise[20:28] = True
    with pytest.warns(RuntimeWarning) as seen:
        _warn_low_red(by_fraction, by_noise, TracesParams())
    assert str(seen[0].message).startswith(
        "red intensity too low (17 below 0.05 of the neuron's 90th-percentile red: min red fraction"
    )
    with pytest.warns(RuntimeWarning) as seen:
        _warn_low_red(by_fraction, by_noise,
                      TracesParams(min_red_fraction=0.05, red_reference_percentile=50.0))  # fmt: skip
    text = str(seen[0].message)
    assert text.startswith("red intensity too low (17 below 0.05 of the neuron's median red: ")
    assert "; 8 not 3 noise sd above background: red noise floor, --red-noise-floor) in 25" in text
    assert "--red-noise-floor: " not in text and "--min-red-fraction: " not in text


def test_the_option_the_form_and_an_older_record_know_the_parameter():
    import argparse

    parser = argparse.ArgumentParser()
    TracesParams.add_arguments(parser)
    args = parser.parse_args(["--red-noise-floor", "5"])
    assert TracesParams.from_args(args).red_noise_floor == 5.0
    assert TracesParams().red_noise_floor == 3.0
    assert TracesParams().to_dict()["red_noise_floor"] == 3.0  # the provenance records it
    old = {k: v for k, v in TracesParams().to_dict().items() if k != "red_noise_floor"}
    # a record from before h17 had no noise floor: a re-run from it gives the same traces
    assert TracesParams.from_dict(recorded_values(old)).red_noise_floor == 0.0


def test_a_neuron_among_bright_neighbours_keeps_its_ratio():
    """h18 (focus-artefact recording, seed 2): true neuron n10 had 4-5 neighbours within 8 px;
    its annulus was mostly their tissue (median 281, 15.9th percentile 164), so the spread of the
    annulus' lower half, taken for pixel noise, was 117 instead of about 6-12, and the floor
    (180-216) stood above its red (174-189). Here: a neuron 17 pixel sd bright (peak 100, noise
    sd 6) with five neighbours of peak 250 at 8 px, in the middle of its annulus (5-9 px). The
    noise comes from second differences of side-by-side annulus pixels, which the neighbours'
    smooth (blurred) profiles hardly change: the floor stays within about twice that of the same
    ROI on plain background, below the neuron's red."""
    n_t, size, sd = 100, 48, 6.0
    yy, xx = np.mgrid[:size, :size]
    centre = (24.0, 24.0)

    def blob(c, peak, s=1.7):
        return peak * np.exp(-((yy - c[0]) ** 2 + (xx - c[1]) ** 2) / (2 * s * s))

    plain = np.full((size, size), RED_BG)
    crowded = RED_BG + blob(centre, 100.0)
    for j in range(5):
        a = 2 * np.pi * j / 5 + 0.3
        crowded = crowded + blob((centre[0] + 8 * np.sin(a), centre[1] + 8 * np.cos(a)), 250.0)
    tracks = pd.DataFrame({"neuron_id": "n", "frame": np.arange(n_t), "y": 24.0, "x": 24.0})
    rng = np.random.default_rng(5)
    floors = {}
    for name, image in (("plain", plain), ("crowded", crowded)):
        red = (image + rng.normal(0, sd, (n_t, size, size))).astype(np.float32)
        green = GREEN_BG + blob(centre, 40.0) + rng.normal(0, 5, (n_t, size, size))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            df = extract_traces(green.astype(np.float32), tracks, red)
        floors[name] = df.red_floor.to_numpy()
    # the crowded neuron: every frame keeps its ratio, its red well above the floor
    assert not df.red_invalid.any(), int(df.red_invalid.sum())
    assert (df.red / df.red_floor).min() > 1.5, (df.red / df.red_floor).min()
    # the neighbours raise the floor, but not by the spread of their tissue (the old 7 x)
    assert np.median(floors["crowded"]) < 2.5 * np.median(floors["plain"]), floors


def test_with_the_relative_rule_off_the_warning_does_not_blame_it(scene):
    """`--min-red-fraction 0` turns the relative rule off, yet the warning counted every sample
    with red <= 0 as "below 0 of the neuron's 90th-percentile red: min red fraction" (the split
    was red <= that rule's floor, 0). A background above the mean (its 90th percentile) puts
    neuron a's red below 0 where its track is on background: the noise floor refuses those; with
    both rules off, only a red of 0 or less is refused, and the warning says that (h19 review)."""
    green, red, tracks = scene
    for floor_k, want in ((3.0, "not 3 noise sd above background: red noise floor"),
                          (0.0, "red 0 or less")):  # fmt: skip
        with pytest.warns(RuntimeWarning) as seen:
            df = extract_traces(green, tracks, red, fps=FPS, bg_percentile=90.0,
                                min_red_fraction=0.0, red_noise_floor=floor_k)  # fmt: skip
        text = " ".join(str(w.message) for w in seen if "red intensity" in str(w.message))
        away = df[df.neuron_id == "a"].set_index("frame").loc[AWAY.start : AWAY.stop - 1]
        assert (away.red <= 0).mean() > 0.9 and away.red_invalid.mean() > 0.9  # the case
        assert "min red fraction" not in text and want in text, text
        assert f"in {int(df.red_invalid.sum())} samples" in text, text


def test_the_traces_record_names_the_estimator_that_made_the_floor(scene, tmp_path):
    """h18 changed how the floor is measured (second differences instead of the spread of the
    annulus' lower half: a re-run of h17 traces gives a lower floor where the annulus has
    structure), and nothing recorded which made a session's `red_floor` (session 18's Left
    list). The traces step records the estimator when a floor was measured, and a re-run from
    the session (`--params-from`) takes the record as a fact, not an unknown parameter."""
    from napari_catrack.batch.steps import recorded_params
    from napari_catrack.core.signals.extraction import RED_FLOOR_ESTIMATOR
    from napari_catrack.core.signals.records import record_traces
    from napari_catrack.session import Session

    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    with_floor = _traces(scene)
    assert with_floor.red_floor.notna().any()
    record_traces(session, with_floor, TracesParams(), fps=FPS)
    session.save()
    stored = Session.load(tmp_path / "s.catrack.h5")["traces"].params
    assert stored["red_floor_estimator"] == RED_FLOOR_ESTIMATOR == "annulus-second-differences-v2"
    assert recorded_params("traces", stored) == ({}, {})  # defaults, nothing unknown

    off = _traces(scene, red_noise_floor=0.0)  # no floor measured: no estimator claimed
    record_traces(session, off, TracesParams(red_noise_floor=0.0), fps=FPS)
    assert "red_floor_estimator" not in session["traces"].params

"""The speed figure of a velocity whose direction is unknown (h20)."""

from __future__ import annotations

import numpy as np

from napari_catrack.core.behaviour import VelocityParams, compute_velocity


def _stage_only_velocity():
    t = np.arange(60) / 6
    x = np.where(t < 5, 0.0, 80.0 * (t - 5))  # still, then crawling at 80 µm/s
    return compute_velocity(np.zeros((60, 2)), t, np.stack([np.zeros(60), x], 1), None,
                            VelocityParams(pixel_size_um=1.0))  # fmt: skip


def test_the_speed_figure_draws_the_speed_where_the_direction_is_unknown():
    """A new user's walk (h20): `catrack velocity --stage path.csv` of the Scholz et al. 2018
    path (no centerline, so no direction), then `catrack export`: the speed figure drew only
    the still frames, a flat line at 0, and nothing where the worm moved (52 % of the frames).
    The speed is now drawn there, in grey, said in the legend and the title."""
    from matplotlib.figure import Figure

    from napari_catrack.figures.behaviour import draw_velocity_panel, speed_figure

    v = _stage_only_velocity()
    unknown = v["direction"].isna().to_numpy()
    assert unknown.sum() > 20
    exported = speed_figure(v).axes[0]
    beside_traces = Figure().add_subplot(111)
    draw_velocity_panel(beside_traces, v)
    for ax in (exported, beside_traces):
        (grey,) = [ln for ln in ax.get_lines() if ln.get_label() == "speed, direction unknown"]
        y = np.asarray(grey.get_ydata(), float)
        np.testing.assert_allclose(y[unknown], v["speed_um_s"].to_numpy()[unknown])
        assert np.isnan(y[~unknown]).all()
    assert "grey: speed, direction unknown" in exported.get_title()


def test_the_speed_lines_are_broken_at_a_gap_in_the_frame_times():
    """The Scholz path's 41 s gap (h20) was drawn as a straight line from 114.8 to 156.0 s, as
    if the worm had been measured there. The lines now stop at the gap."""
    from napari_catrack.figures.behaviour import speed_figure

    v = _stage_only_velocity()
    v["time_s"] = np.where(np.arange(60) < 30, v["time_s"], v["time_s"] + 40.0)
    for line in speed_figure(v).axes[0].get_lines()[1:]:  # (the first: the zero line)
        x = np.asarray(line.get_xdata(), float)
        y = np.asarray(line.get_ydata(), float)
        k = np.flatnonzero(x > 40)[0]  # the first sample after the gap
        assert np.isnan(y[k - 1]) or np.isnan(x[k - 1]), line.get_label()

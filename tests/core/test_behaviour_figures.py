"""The behaviour frames figure says what its colours are (h18 first-hour walk: the demo's
`behaviour_frames.png` drew a gold outline, a cyan line and a magenta dot on each frame with no
word on what they were, and an L of axis lines beside each image)."""

from __future__ import annotations

import numpy as np

from napari_catrack.figures.behaviour import frames_figure


def test_frames_figure_has_a_legend_and_no_axis_lines():
    frames = np.random.default_rng(0).normal(100, 5, (3, 60, 80)).astype(np.float32)
    masks = np.zeros((3, 60, 80), bool)
    masks[:, 25:35, 10:70] = True
    line = np.stack([np.full(20, 30.0), np.linspace(12, 68, 20)], axis=1)
    fig = frames_figure(frames, masks, np.stack([line] * 3), [0, 1, 2])
    assert len(fig.legends) == 1
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["mask outline", "centerline", "head"]
    colours = [h.get_color() for h in legend.legend_handles]
    assert colours == ["gold", "cyan", "magenta"]  # the colours drawn on the frames
    assert all(not ax.axison for ax in fig.axes)

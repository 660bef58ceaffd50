"""A small two-photon movie with known cells, shared by the NaN-border and batch-sources tests."""

from __future__ import annotations

from napari_catrack.synthetic import make_two_photon_movie


def six_cell_movie():
    """300 frames of 64 x 64, 6 active cells, no motion: every cell is findable."""
    return make_two_photon_movie(
        300, (64, 64), n_cells=6, seed=11, motion_px=0, silent_fraction=0,
        cell_brightness=(60, 120), event_rate_hz=(0.3, 0.8),
    )  # fmt: skip

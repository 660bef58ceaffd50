"""Polygon-cell traces against a constructed stack whose in-polygon means are known exactly."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.core.signals.roi import polygon_mask, polygon_trace
from napari_catrack.errors import InputError

T, H, W = 12, 40, 48
# half-pixel vertices: the pixel centres inside are rows 10..15, columns 8..13 exactly
RECT = np.array([[9.5, 7.5], [9.5, 13.5], [15.5, 13.5], [15.5, 7.5]])
ACTIVE = (7, 8)  # frames where the cell doubles its green intensity


def _stacks(dy: int = 0, dx: int = 0):
    """Green: 100 inside the rectangle (200 in ACTIVE frames), a gradient outside.
    Red: 50 inside the rectangle moved by -(dy, dx) (where red sees the cell), 7 elsewhere."""
    yy, xx = np.mgrid[:H, :W]
    green = np.broadcast_to((1000 + yy + 10 * xx).astype(np.float32), (T, H, W)).copy()
    green[:, 10:16, 8:14] = 100.0
    green[list(ACTIVE), 10:16, 8:14] = 200.0
    red = np.full((T, H, W), 7.0, np.float32)
    red[:, 10 - dy : 16 - dy, 8 - dx : 14 - dx] = 50.0
    return green, red


def test_mask_is_the_rectangle():
    mask = polygon_mask((H, W), RECT)
    expected = np.zeros((H, W), bool)
    expected[10:16, 8:14] = True
    np.testing.assert_array_equal(mask, expected)


def test_known_means_ratio_and_dff():
    green, red = _stacks()
    df = polygon_trace(green, red, RECT, fps=4.0, neuron_id="roi-7")
    assert list(df.columns) == ["neuron_id", "frame", "time_s", "green", "red", "ratio", "dff"]
    assert (df["neuron_id"] == "roi-7").all()
    np.testing.assert_array_equal(df["frame"], np.arange(T))
    np.testing.assert_allclose(df["time_s"], np.arange(T) / 4.0)
    g = np.where(np.isin(np.arange(T), ACTIVE), 200.0, 100.0)
    np.testing.assert_allclose(df["green"], g)
    np.testing.assert_allclose(df["red"], 50.0)
    np.testing.assert_allclose(df["ratio"], g / 50.0)
    # R0 = 10th percentile of the ratio = 2.0, so dR/R0 is 1 in the active frames, else 0
    np.testing.assert_allclose(df["dff"], np.where(g > 100, 1.0, 0.0), atol=1e-12)


def test_red_follows_the_alignment_transform():
    dy, dx = 3, -2
    green, red = _stacks(dy, dx)
    # red pixel p lands at p + (dy, dx) in green, so the cell sits at rect - (dy, dx) in red
    tr = AlignmentTransform(dy=dy, dx=dx)
    aligned = polygon_trace(green, red, RECT, transform=tr)
    np.testing.assert_allclose(aligned["red"], 50.0)
    unaligned = polygon_trace(green, red, RECT)
    assert (unaligned["red"] < 50.0).all()  # the unshifted polygon mixes in background red
    as_dict = polygon_trace(green, red, RECT, transform=tr.to_dict())
    np.testing.assert_allclose(as_dict["red"], aligned["red"])


def test_lazy_chunks_match_numpy_and_report_progress():
    green, red = _stacks()
    ref = polygon_trace(green, red, RECT)
    seen = []
    lazy = polygon_trace(
        da.from_array(green, chunks=(5, H, W)),
        da.from_array(red, chunks=(5, H, W)),
        RECT,
        chunk_frames=5,
        progress=lambda done, total: seen.append((done, total)),
    )
    np.testing.assert_allclose(lazy[["green", "red", "dff"]], ref[["green", "red", "dff"]])
    assert seen[-1] == (2 * T, 2 * T)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_green_only_and_frame_coordinate_vertices():
    green, _ = _stacks()
    with_frame = np.c_[np.full(4, 3.0), RECT]  # vertices drawn on frame 3 of a (T, Y, X) layer
    df = polygon_trace(green, None, with_frame)
    assert df["red"].isna().all() and df["ratio"].isna().all()
    g = np.where(np.isin(np.arange(T), ACTIVE), 200.0, 100.0)
    np.testing.assert_allclose(df["green"], g)
    np.testing.assert_allclose(df["dff"], g / 100.0 - 1.0, atol=1e-12)
    assert df["time_s"].isna().all()


@pytest.mark.parametrize(
    ("poly", "message"),
    [
        (RECT[:2], "at least 3"),
        (RECT + 500, "covers no pixel"),
        (np.array([[0, 0], [np.nan, 1], [1, 1]]), "finite"),
    ],
)
def test_bad_polygons(poly, message):
    green, red = _stacks()
    with pytest.raises(InputError, match=message):
        polygon_trace(green, red, poly)


def test_bad_stacks():
    green, red = _stacks()
    with pytest.raises(InputError, match="differ in shape"):
        polygon_trace(green, red[:, :10], RECT)
    with pytest.raises(InputError, match=r"\(T, Y, X\)"):
        polygon_trace(green[0], None, RECT)

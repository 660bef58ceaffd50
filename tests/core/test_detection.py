"""Candidate detection: recall on synthetic worm frames, filters, touching neurons split."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from napari_catrack.core.detection import detect_candidates, project
from napari_catrack.errors import InputError
from napari_catrack.synthetic import make_worm_recording


@pytest.fixture(scope="module")
def rec():
    return make_worm_recording(n_frames=5, shape=(128, 128), n_neurons=15, seed=11)


def test_recall_on_synthetic_frame(rec):
    labels, table = detect_candidates(rec.red[0])
    assert list(table.columns[:7]) == [
        "neuron_id",
        "y",
        "x",
        "area",
        "brightness",
        "bbox_h",
        "bbox_w",
    ]
    assert labels.shape == rec.red[0].shape
    assert set(np.unique(labels)) - {0} == set(table.neuron_id)
    truth = rec.truth.red_positions[0]
    d, _ = cKDTree(table[["y", "x"]].to_numpy()).query(truth)
    assert (d < 3).mean() >= 0.9


def test_brightness_filter_removes_dim_blobs(rec):
    _, all_ = detect_candidates(rec.red[0])
    _, bright = detect_candidates(rec.red[0], min_brightness=float(all_.brightness.median()))
    assert 0 < len(bright) < len(all_)
    assert (bright.brightness >= all_.brightness.median()).all()


def test_touching_neurons_are_split():
    yy, xx = np.mgrid[:40, :40]
    img = 100 + sum(500 * np.exp(-((yy - 20) ** 2 + (xx - c) ** 2) / 6.0) for c in (16.5, 22.5))
    _, split = detect_candidates(img.astype(np.float32))
    _, merged = detect_candidates(img.astype(np.float32), split_touching=False)
    assert len(split) == 2 and len(merged) == 1
    assert sorted(split.x.round()) == [16, 23] or sorted(split.x.round()) == [17, 22]


def test_area_and_bbox_filters():
    img = np.full((60, 60), 100.0, np.float32)
    img[10:13, 10:13] += 400  # 3x3 square
    img[30:45, 30:45] += 400  # 15x15 square
    _, small = detect_candidates(img, sigma=0, block_size=61, max_area=50, split_touching=False)
    assert len(small) == 1 and small.area.iloc[0] == 9
    _, big = detect_candidates(img, sigma=0, block_size=61, min_bbox=10, split_touching=False)
    assert len(big) == 1 and big.bbox_h.iloc[0] == 15


def test_projection_and_errors(rec):
    assert project(rec.red, slice(0, 3)).shape == rec.red.shape[1:]
    with pytest.raises(InputError):
        detect_candidates(rec.red)
    with pytest.raises(InputError):
        project(rec.red, method="median")


def test_cli_detect_round_trip(rec, tmp_path):
    import pandas as pd
    import tifffile

    from napari_catrack.cli import main

    data = np.stack([rec.green, rec.red], axis=1)
    tifffile.imwrite(tmp_path / "rec.tif", data, imagej=True, metadata={"axes": "TCYX"})
    out = tmp_path / "cand.csv"
    assert main(["detect", str(tmp_path / "rec.tif"), "--frame", "2", "-o", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns[:5]) == ["neuron_id", "y", "x", "area", "brightness"]
    d, _ = cKDTree(df[["y", "x"]].to_numpy()).query(rec.truth.red_positions[2])
    assert (d < 3).mean() >= 0.9
    assert main(["detect", str(tmp_path / "rec.tif"), "--frame", "50", "-o", str(out)]) == 2

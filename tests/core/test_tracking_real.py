"""Tracking on REAL worm data: ZephIR's example recording (../shared/data/worm/zephir), 60 frames
around its reference frame 271, seeded with its hand annotations there and scored against its
corrected tracks (benchmarks/bench_tracking_real.py runs all 512 frames; docs/tracking.md).

The movie's xy panel (rows 0..199, columns 0..511 of the green channel) is drawn at one pixel per
voxel, so ZephIR's normalised positions are (y * 200, x * 512) panel pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.tracking import track
from tests.conftest import shared_data

SEED, LO, HI = 271, 241, 301  # 60 frames, the seed frame 30 in


def _zephir(folder, name: str) -> pd.DataFrame:
    import h5py

    with h5py.File(folder / name) as f:
        d = {k: f[k][:] for k in ("t_idx", "worldline_id", "x", "y")}
    return pd.DataFrame(
        {"neuron_id": d["worldline_id"].astype(int), "frame": d["t_idx"].astype(int),
         "y": d["y"] * 200.0, "x": d["x"] * 512.0}
    )  # fmt: skip


def test_tracks_real_neurons_near_zephirs_tracks():
    folder = shared_data("worm", "zephir")
    av = pytest.importorskip(
        "av", reason="PyAV is not installed: `pip install av` to decode the movie"
    )
    with av.open(str(folder / "movie.mp4")) as c:
        frames = []
        for i, f in enumerate(c.decode(video=0)):
            if i >= HI:
                break
            if i >= LO:
                frames.append(f.to_ndarray(format="rgb24")[:200, :512, 1])
    movie = np.stack(frames).astype(np.float32)
    gt = _zephir(folder, "annotations-g.h5")
    seeds = _zephir(folder, "annotations-2.h5")
    seeds = seeds[seeds.frame == SEED][["neuron_id", "y", "x"]]
    out = track(None, movie, seeds, SEED - LO, channel="green")
    out["frame"] += LO
    both = out.merge(gt, on=["neuron_id", "frame"], suffixes=("", "_z"))
    assert len(both) == 23 * 60
    err = np.hypot(both.y - both.y_z, both.x - both.x_z)
    # measured (docs/tracking.md): 96 % within 4 px, median 0.96 px
    assert (err <= 4).mean() >= 0.9, f"{(err <= 4).mean():.1%} within 4 px of ZephIR"
    assert np.median(err) <= 1.5

"""Windows and macOS behaviour simulated on Linux: process start methods without fork, a file
held open by another program, non-ASCII paths and a non-UTF-8 locale (docs/installation.md)."""

from __future__ import annotations

import multiprocessing

import numpy as np


def test_centerline_worker_runs_spawned_where_there_is_no_fork_server(monkeypatch):
    """Windows has only "spawn": `get_context("forkserver")` raises ValueError there. The
    segmentation + centerline pipeline's worker process then starts spawned (a fresh interpreter
    that must import everything it runs) and gives exactly the one-after-the-other results."""
    from napari_catrack.core.behaviour import (
        SegmentParams,
        compute_centerlines,
        pipeline,
        segment_video,
    )
    from tests.core._behaviour_helpers import mid_prompt, small_video

    real_get_context = multiprocessing.get_context
    used: list[str | None] = []

    def windows_get_context(method=None):
        used.append(method)
        if method in ("fork", "forkserver"):
            raise ValueError(f"cannot find context for {method!r}")
        return real_get_context(method)

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(multiprocessing, "get_context", windows_get_context)
    v = small_video(n_frames=40)  # more than one chunk of 32 frames
    params = SegmentParams(method="classical")
    seg, cl = pipeline.segment_and_centerline(v.frames, mid_prompt(v), params, processes=1)
    assert used == ["spawn"]
    ref_seg = segment_video(v.frames, mid_prompt(v), params)
    ref = compute_centerlines(ref_seg.masks)
    np.testing.assert_array_equal(seg.masks, ref_seg.masks)
    np.testing.assert_array_equal(cl.points, ref.points)
    np.testing.assert_array_equal(cl.status, ref.status)

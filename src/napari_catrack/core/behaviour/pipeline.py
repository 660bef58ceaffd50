"""Segmentation and centerlines at once: the per-frame centerlines run in a second thread
while the segmentation walks through the video (each frame's mask depends on the previous one,
so the segmentation itself is sequential). Used by `catrack centerline REC --prompt` and the
speed benchmark; the results are identical to running the two steps one after the other.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from napari_catrack.core.behaviour.propagate import SegmentationResult, SegmentParams, segment_video
from napari_catrack.core.behaviour.video_centerline import (
    CenterlineParams,
    CenterlineResult,
    compute_centerlines,
    frame_centerline,
)


def segment_and_centerline(
    frames,
    anchors,
    seg_params: SegmentParams | None = None,
    cl_params: CenterlineParams | None = None,
    *,
    segmenter=None,
    workers: int = 1,
    progress: Callable[..., None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[SegmentationResult, CenterlineResult]:
    seg_params = seg_params or SegmentParams()
    cl_params = cl_params or CenterlineParams()
    futures: dict[int, object] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:

        def submit(t, mask):
            futures[t] = pool.submit(frame_centerline, mask.copy(), cl_params.smooth)

        seg = segment_video(frames, anchors, seg_params, segmenter=segmenter, on_mask=submit,
                            progress=progress, cancel=cancel)  # fmt: skip
        raw = [futures[t].result() if t in futures else None for t in range(seg.n_frames)]
    cl = compute_centerlines(seg.masks, cl_params, raw=raw, cancel=cancel)
    return seg, cl

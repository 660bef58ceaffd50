"""Segmentation and centerlines at once, on two cores.

Each frame's mask depends on the previous one, so the segmentation walks through the video
in order; the per-frame centerlines (`video_centerline.frame_centerline`) do not, so they are
computed in a worker PROCESS while the segmentation goes on, in chunks of frames sent as
packed bits (8 KB per 256 x 256 frame). A thread would not do: both steps are mostly Python
and NumPy/SciPy calls that hold the GIL, and on the 2-core benchmark machine a centerline
thread made the pair slower than running them one after the other (45 against 68 frames/s).
The worker starts from a fork server (no fork of a process that may hold Qt or torch
threads), which imports the centerline module once; where there is none (Windows) it is
spawned, as on macOS's default, which needs only picklable, module-level work (it is). The video-wide steps (coils, head/tail)
then run here, and the results are identical to running the two steps one after the other.
Used by `catrack centerline REC --prompt` and the speed benchmark.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

from napari_catrack.core.behaviour.params import CenterlineParams, SegmentParams
from napari_catrack.core.behaviour.propagate import SegmentationResult, segment_video
from napari_catrack.core.behaviour.video_centerline import (
    CenterlineResult,
    compute_centerlines,
    frame_centerline,
)

CHUNK = 32  # frames per message to the worker: large enough that pickling does not dominate


def _centerlines_of_chunk(frames: list[int], packed: np.ndarray, width: int, smooth: float):
    """In the worker: unpack the chunk's masks and return their raw centerlines."""
    masks = np.unpackbits(packed, axis=-1, count=width).astype(bool)
    return frames, [frame_centerline(m, smooth) for m in masks]


def _start_method() -> str:
    """ "forkserver" where the platform has it (Linux, macOS), else "spawn" (Windows, where
    `get_context("forkserver")` raises ValueError)."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _pool(processes: int) -> ProcessPoolExecutor:
    ctx = multiprocessing.get_context(_start_method())
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["napari_catrack.core.behaviour.video_centerline"])
    return ProcessPoolExecutor(max_workers=processes, mp_context=ctx)


def segment_and_centerline(
    frames,
    anchors,
    seg_params: SegmentParams | None = None,
    cl_params: CenterlineParams | None = None,
    *,
    segmenter=None,
    processes: int = 1,
    progress: Callable[..., None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[SegmentationResult, CenterlineResult]:
    """`segment_video` then `compute_centerlines`, with the per-frame centerlines in
    `processes` worker processes (0: all in this process, after the segmentation)."""
    seg_params = seg_params or SegmentParams()
    cl_params = cl_params or CenterlineParams()
    if processes <= 0:
        seg = segment_video(frames, anchors, seg_params, segmenter=segmenter,
                            progress=progress, cancel=cancel)  # fmt: skip
        return seg, compute_centerlines(seg.masks, cl_params, frames=frames, cancel=cancel)
    futures: list[Future] = []
    pending: dict[int, np.ndarray] = {}
    width = int(np.shape(frames[0])[-1])

    with _pool(processes) as pool:

        def send() -> None:
            order = sorted(pending)
            packed = np.packbits(np.stack([pending[t] for t in order]), axis=-1)
            futures.append(pool.submit(_centerlines_of_chunk, order, packed, width,
                                       cl_params.smooth))  # fmt: skip
            pending.clear()

        def on_mask(t: int, mask: np.ndarray) -> None:
            pending[t] = np.asarray(mask, bool)
            if len(pending) >= CHUNK:
                send()

        try:
            seg = segment_video(frames, anchors, seg_params, segmenter=segmenter,
                                on_mask=on_mask, progress=progress, cancel=cancel)  # fmt: skip
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        if pending:
            send()
        missing = object()
        raw: list = [missing] * seg.n_frames
        for f in futures:
            done, results = f.result()
            for t, r in zip(done, results):
                raw[t] = r
    for t in range(seg.n_frames):  # segment_video reports every frame once; to be safe
        if raw[t] is missing:
            raw[t] = frame_centerline(seg.masks[t], cl_params.smooth)
    cl = compute_centerlines(seg.masks, cl_params, raw=raw, frames=frames, cancel=cancel)
    return seg, cl

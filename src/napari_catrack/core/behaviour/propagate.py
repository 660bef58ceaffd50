"""Segment a whole video from a few prompts: anchors, then frame-to-frame propagation.

Each anchor (a frame with prompt points, or a mask the user painted) governs the frames up to
half-way to its neighbouring anchors, as anchors do in neuron tracking. From an anchor the
segmenter walks forwards and backwards; every next frame is prompted from the previous mask
(SAM gets `prompts.prompt_from_mask`: box, points along the body, background points around
it; the classical method searches around the previous mask), so a drifting or coiling worm is
followed. Re-propagating after the user adds an anchor recomputes
only the frames whose governing anchor changed; the rest is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from napari_catrack.core.behaviour.classical import FrameResult
from napari_catrack.core.behaviour.params import SegmentParams
from napari_catrack.core.behaviour.prompts import Anchor, Prompt, check_anchors
from napari_catrack.errors import InputError, check_cancelled
from napari_catrack.io.lazy import frame_blocks


class FrameSegmenter(Protocol):
    name: str

    def segment(self, frame: np.ndarray, prompt: Prompt) -> FrameResult: ...


@dataclass
class SegmentationResult:
    """Masks for every frame and where each came from."""

    masks: np.ndarray  # (T, Y, X) bool
    score: np.ndarray  # (T,) 0..1
    source: np.ndarray  # (T,) "anchor" / "painted" / "propagated" / "blank" (no image)
    anchor_frame: np.ndarray  # (T,) frame of the governing anchor
    method: str
    anchors: list[Anchor] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.masks.shape[0])


def governing_anchor(anchor_frames: Sequence[int], n_frames: int) -> np.ndarray:
    """For every frame, the index of the anchor that governs it (the nearer; ties go back)."""
    frames = np.asarray(sorted(anchor_frames))
    t = np.arange(n_frames)
    right = np.clip(np.searchsorted(frames, t), 0, len(frames) - 1)
    left = np.clip(right - 1, 0, len(frames) - 1)
    d_left, d_right = np.abs(t - frames[left]), np.abs(frames[right] - t)
    return np.where(d_right < d_left, right, left)


def _same_anchor(a: Anchor, b: Anchor) -> bool:
    if a.frame != b.frame or (a.mask is None) != (b.mask is None):
        return False
    if a.mask is not None and not np.array_equal(a.mask, b.mask):
        return False
    return np.array_equal(a.points, b.points) and np.array_equal(a.labels, b.labels)


def segment_video(
    frames,
    anchors: Anchor | Sequence[Anchor],
    params: SegmentParams | None = None,
    *,
    segmenter: FrameSegmenter | None = None,
    previous: SegmentationResult | None = None,
    on_mask: Callable[[int, np.ndarray], None] | None = None,
    progress: Callable[..., None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> SegmentationResult:
    """Masks for every frame of `frames` (T, Y, X) from the anchors (see the module docstring).

    `previous`: an earlier result whose frames are kept where their governing anchor is
    unchanged (re-propagation after a correction). `segmenter` overrides the one the params
    describe (tests, or a SAM model already loaded by the widget). `on_mask(t, mask)` is called
    as soon as frame t has its final mask (e.g. to start its centerline in another thread).
    """
    params = params or SegmentParams()
    if isinstance(anchors, Anchor):
        anchors = [anchors]
    shape = tuple(frames.shape)
    if len(shape) != 3:
        raise InputError(f"a behaviour video must be (T, Y, X); got shape {shape}")
    T, h, w = shape
    frames = frame_blocks(frames)  # a long video's dask array: blocks, not one graph per frame
    anchors = check_anchors(list(anchors), T, (h, w))
    if segmenter is None:
        from napari_catrack.core.behaviour.sam import make_segmenter

        segmenter = make_segmenter(params)
    gov = governing_anchor([a.frame for a in anchors], T)
    masks = np.zeros((T, h, w), bool)
    score = np.zeros(T)
    source = np.full(T, "propagated", dtype=object)
    todo = np.ones(T, bool)
    if previous is not None and previous.masks.shape == masks.shape and previous.anchors:
        old_gov = governing_anchor([a.frame for a in previous.anchors], T)
        for t in range(T):
            new_a, old_a = anchors[gov[t]], previous.anchors[old_gov[t]]
            if _same_anchor(new_a, old_a):
                masks[t], score[t], source[t] = (
                    previous.masks[t],
                    previous.score[t],
                    previous.source[t],
                )
                todo[t] = False
    if on_mask is not None:
        for t in np.nonzero(~todo)[0]:
            on_mask(int(t), masks[t])
    total = int(todo.sum())
    done = 0
    for i, anchor in enumerate(anchors):
        mine = np.nonzero((gov == i) & todo)[0]
        if len(mine) == 0:
            continue
        state = _start(segmenter, frames, anchor, params)
        masks[anchor.frame], score[anchor.frame] = state.mask, state.score
        source[anchor.frame] = "painted" if anchor.mask is not None else "anchor"
        if on_mask is not None:
            on_mask(anchor.frame, masks[anchor.frame])
        snapshot = _snapshot(segmenter)
        for direction in (+1, -1):
            _restore(segmenter, snapshot)
            prev = state.mask
            t = anchor.frame + direction
            while 0 <= t < T and gov[t] == i:
                if todo[t]:
                    check_cancelled(cancel, "segmentation")
                    frame = _frame(frames, t)
                    if is_blank(frame):  # lost or undecodable (io.video): no mask, listed
                        source[t] = "blank"
                    else:
                        res = segmenter.segment(frame, Prompt(previous=prev))
                        masks[t], score[t] = res.mask, res.score
                    if on_mask is not None:
                        on_mask(t, masks[t])
                    done += 1
                    if progress is not None and done % 5 == 0:
                        progress(done, total, f"frame {t}")
                if masks[t].any():
                    prev = masks[t]
                t += direction
        done += 1
    if progress is not None:
        progress(total, total, "done")
    if segmenter.name == "classical":
        score = _relative_score(score, source)
    info = {"polarity": getattr(segmenter, "polarity", None)}
    info.update(getattr(segmenter, "info", {}) or {})
    return SegmentationResult(
        masks, score, source.astype(str), np.asarray([anchors[g].frame for g in gov]),
        segmenter.name, list(anchors), info,
    )  # fmt: skip


def _relative_score(score: np.ndarray, source: np.ndarray, window: int = 15) -> np.ndarray:
    """Classical scores relative to their recent median (1 = as consistent as usual).

    A crawling worm changes shape between frames, so even perfect masks overlap their
    neighbour's by only ~0.8 after aligning centroids; what marks a doubtful frame is a drop
    below the usual overlap, not the overlap itself. Anchors keep their score of 1.
    """
    import pandas as pd

    s = pd.Series(np.where(source == "propagated", score, np.nan))
    ref = s.rolling(2 * window + 1, center=True, min_periods=3).median().to_numpy()
    rel = np.clip(score / np.where(np.isfinite(ref) & (ref > 0), ref, 1.0), 0.0, 1.0)
    return np.where(source == "propagated", rel, score)


def _frame(frames, t: int) -> np.ndarray:
    """Frame t; a float frame with no finite pixel is a gap (given as zeros: blank), one with
    some NaN/infinite pixels is refused in one line (the segmenters' percentiles and filters
    failed on them with an IndexError)."""
    frame = np.asarray(frames[t])
    if frame.dtype.kind == "f":
        finite = np.isfinite(frame)
        if not finite.any():
            return np.zeros(frame.shape, frame.dtype)
        if not finite.all():
            raise InputError(
                f"frame {t} contains {int(finite.size - finite.sum())} NaN/infinite pixels; "
                "segmentation needs finite data (fill or drop those frames; `catrack register "
                "--bad-frames keep` fills them)"
            )
    return frame


def is_blank(frame: np.ndarray) -> bool:
    """A frame of one value holds no image: a video frame that could not be decoded
    (`io.video` gives those as zeros) or a gap in the recording."""
    frame = np.asarray(frame)
    return frame.size == 0 or bool(frame.min() == frame.max())


def _start(segmenter, frames, anchor: Anchor, params: SegmentParams) -> FrameResult:
    frame = _frame(frames, anchor.frame)
    if is_blank(frame) and anchor.mask is None:
        raise InputError(f"frame {anchor.frame} is blank (one value everywhere, or NaN: it "
                         "could not be decoded, or holds no image): put the prompt on another "
                         "frame")  # fmt: skip
    if anchor.mask is not None:
        mask = np.asarray(anchor.mask, bool)
        if not mask.any():
            raise InputError(f"the painted mask of frame {anchor.frame} is empty")
        calibrate = getattr(segmenter, "calibrate", None)
        if calibrate is not None:
            calibrate(frame, mask)
        return FrameResult(mask, 1.0)
    res = segmenter.segment(frame, anchor.prompt())
    if not res.mask.any():
        y, x = anchor.points[anchor.labels > 0][0]
        raise InputError(
            f"the prompt at ({y:g}, {x:g}) on frame {anchor.frame} gave an empty mask: click "
            "on the worm's body"
        )
    return res


def _snapshot(segmenter) -> Any:
    snap = getattr(segmenter, "snapshot", None)
    return snap() if snap is not None else None


def _restore(segmenter, state: Any) -> None:
    restore = getattr(segmenter, "restore", None)
    if restore is not None and state is not None:
        restore(state)

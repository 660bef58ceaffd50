"""What a segmenter is told about a frame: prompt points, a box, or the mask of a neighbour.

A user's click is an `Anchor` (frame, points with labels 1 = worm / 0 = not worm, or a painted
mask). While propagating, each next frame is prompted from the previous frame's mask
(`prompt_from_mask`): its box grown by a margin, positive points spread along the body's
medial axis, and negative points on the background around it, so a drifting or coiling worm is
followed without new clicks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from napari_catrack.errors import InputError


@dataclass
class Prompt:
    """Prompt for one frame; coordinates are pixels (y, x) of that frame."""

    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (n, 2)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # 1 worm, 0 not
    box: tuple[float, float, float, float] | None = None  # y0, x0, y1, x1 (inclusive)
    previous: np.ndarray | None = None  # the neighbouring frame's mask (bool)

    @property
    def positive(self) -> np.ndarray:
        return self.points[self.labels > 0]

    @property
    def negative(self) -> np.ndarray:
        return self.points[self.labels <= 0]


@dataclass
class Anchor:
    """A frame the user fixed: prompt points (positive/negative) or a painted mask."""

    frame: int
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.frame = int(self.frame)
        self.points = np.asarray(self.points, dtype=float).reshape(-1, 2)
        self.labels = np.asarray(self.labels, dtype=int).reshape(-1)
        if len(self.labels) != len(self.points):
            raise InputError("each prompt point needs a label (1 = worm, 0 = background)")
        if self.mask is None and not (self.labels > 0).any():
            raise InputError(
                f"frame {self.frame}: give at least one positive prompt point on the worm"
            )

    def prompt(self) -> Prompt:
        return Prompt(self.points, self.labels)

    def to_dict(self) -> dict:
        """JSON-able form for the session (painted masks are stored as arrays separately)."""
        return {
            "frame": self.frame,
            "points": self.points.tolist(),
            "labels": self.labels.tolist(),
            "painted": self.mask is not None,
        }


def check_anchors(anchors: list[Anchor], n_frames: int, shape: tuple[int, int]) -> list[Anchor]:
    """Anchors sorted by frame, one per frame; points outside the image are a clear error."""
    if not anchors:
        raise InputError("give a prompt point on the worm (y,x) in at least one frame")
    by_frame: dict[int, Anchor] = {}
    h, w = shape
    for a in anchors:
        if not 0 <= a.frame < n_frames:
            raise InputError(f"prompt frame {a.frame} is outside the video (0..{n_frames - 1})")
        for y, x in a.points:
            if not (0 <= y <= h - 1 and 0 <= x <= w - 1):
                raise InputError(
                    f"prompt point ({y:g}, {x:g}) on frame {a.frame} is outside the {h} x {w} image"
                )
        if a.mask is not None and a.mask.shape != (h, w):
            raise InputError(
                f"painted mask of frame {a.frame} is {a.mask.shape}, the video is {h} x {w}"
            )
        by_frame[a.frame] = a
    return [by_frame[f] for f in sorted(by_frame)]


def prompt_from_mask(
    mask: np.ndarray, *, n_positive: int = 5, n_negative: int = 6, margin: float | None = None
) -> Prompt:
    """Prompt the next frame from this one's mask: box + points along the body + background.

    Positive points are the deepest pixels of the mask (distance-transform maxima) spread along
    the body; negative points sit 1.5-3 body widths outside it, spread around, so they stay on
    background even when the worm moves by a body width between frames.
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return Prompt(previous=mask)
    dist = ndi.distance_transform_edt(mask)
    width = 2.0 * float(dist.max())
    ys, xs = np.nonzero(mask)
    margin = max(width, 4.0) if margin is None else margin
    h, w = mask.shape
    box = (
        max(ys.min() - margin, 0.0),
        max(xs.min() - margin, 0.0),
        min(ys.max() + margin, h - 1.0),
        min(xs.max() + margin, w - 1.0),
    )
    core = dist >= 0.6 * dist.max()
    pos = _spread(np.argwhere(core), n_positive)
    outside = ndi.distance_transform_edt(~mask)
    ring = (outside >= 1.5 * width) & (outside <= 3.0 * width)
    neg = _spread(np.argwhere(ring), n_negative)
    points = np.concatenate([pos, neg]).astype(float)
    labels = np.concatenate([np.ones(len(pos), int), np.zeros(len(neg), int)])
    return Prompt(points, labels, box, mask)


def _spread(candidates: np.ndarray, n: int) -> np.ndarray:
    """n points far from each other (greedy farthest-point sampling, deterministic)."""
    if len(candidates) == 0 or n <= 0:
        return np.zeros((0, 2))
    centre = candidates.mean(axis=0)
    chosen = [int(np.argmin(np.linalg.norm(candidates - centre, axis=1)))]
    d = np.linalg.norm(candidates - candidates[chosen[0]], axis=1)
    for _ in range(min(n, len(candidates)) - 1):
        k = int(np.argmax(d))
        if d[k] <= 0:
            break
        chosen.append(k)
        d = np.minimum(d, np.linalg.norm(candidates - candidates[k], axis=1))
    return candidates[chosen].astype(float)

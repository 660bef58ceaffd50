"""Movies with a NaN border: the pixels measured in every frame, for summary images and sources.

Other motion-correction tools (CaImAn with `border_nan=True`, suite2p-style exports, ImageJ
plugins) pad the edge a frame was shifted away from with NaN. Those pixels were not measured, so
the steps that need finite data (summary images, source extraction) work on the largest
rectangle of pixels finite in every frame and map their results back to the full frame (images:
NaN outside; footprints: 0 outside; centroids in full-frame coordinates).

The crop is looked for only after a step met a non-finite pixel (`NonFinitePixels`), so a clean
movie costs no extra pass. It is refused in one line naming the frame when non-finite pixels are
not a border: a whole frame of NaN (a dropped frame), or a hole inside the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_catrack.errors import InputError, check_cancelled
from napari_catrack.io.frames import FrameSource

MIN_SIDE_PX = 8  # a valid region narrower than this leaves nothing to analyse


class NonFinitePixels(InputError):
    """A step that needs finite data met a NaN/infinite pixel (the caller may crop a border)."""


@dataclass(frozen=True)
class ValidRegion:
    """Rows `ys` and columns `xs` (half-open) of a `shape` frame, finite in every frame."""

    ys: tuple[int, int]
    xs: tuple[int, int]
    shape: tuple[int, int]

    @property
    def offset(self) -> np.ndarray:
        return np.array([self.ys[0], self.xs[0]], float)

    def note(self, what: str) -> str:
        """One line saying what was done (shown as a warning by the CLI, the status in napari)."""
        (y0, y1), (x0, x1) = self.ys, self.xs
        h, w = self.shape
        return (
            f"NaN/infinite border pixels (not measured in some frames) left out: {what} used "
            f"rows {y0}-{y1 - 1} and columns {x0}-{x1 - 1} of the {h}x{w} frame, the region "
            "finite in every frame; results are in full-frame coordinates"
        )

    def crop(self, source: FrameSource) -> FrameSource:
        """`source` seen through the region (reads crop each chunk; closing it closes nothing)."""
        (y0, y1), (x0, x1) = self.ys, self.xs
        return FrameSource(
            (source.n_frames, y1 - y0, x1 - x0),
            source.dtype,
            lambda t0, t1: source.read(t0, t1)[:, y0:y1, x0:x1],
            fps=source.fps,
            pixel_size_um=source.pixel_size_um,
            path=source.path,
        )

    def pad(self, image: np.ndarray, fill: float) -> np.ndarray:
        """A (..., region) array placed in a (..., full frame) array filled with `fill`."""
        out = np.full((*image.shape[:-2], *self.shape), fill, image.dtype)
        out[..., self.ys[0] : self.ys[1], self.xs[0] : self.xs[1]] = image
        return out


def finite_region(
    source: FrameSource, needs: str, chunk_frames: int = 200, cancel=None
) -> ValidRegion:
    """The largest rectangle finite in every frame, when the non-finite pixels are a border.

    Refused (InputError, one line; `needs` is e.g. "summary images need") when a crop would be
    wrong: a frame with no finite pixel (a dropped frame: fill or drop it), non-finite pixels
    not connected to the frame's edge (a hole in the picture), or a region under `MIN_SIDE_PX`
    on a side.
    """
    h, w = source.shape[1:]
    fix = "fill or drop those frames; `catrack register --bad-frames keep` fills them"
    valid = np.ones((h, w), bool)
    dropped: list[int] = []
    for t0, t1 in source.chunks(chunk_frames):
        check_cancelled(cancel, "looking for a NaN border")
        finite = np.isfinite(source.read(t0, t1))
        dropped += (t0 + np.flatnonzero(~finite.any(axis=(1, 2)))).tolist()
        valid &= finite.all(axis=0)
    if dropped:
        more = f" (and {len(dropped) - 1} more)" if len(dropped) > 1 else ""
        raise InputError(
            f"frame {dropped[0]}{more} has no finite pixel (NaN/infinite everywhere); {needs} "
            f"finite data ({fix})"
        )
    from scipy import ndimage  # here: `catrack summary --help` stays light

    labels, count = ndimage.label(~valid)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    inner = np.isin(labels, np.setdiff1d(np.arange(1, count + 1), edge))
    if inner.any():
        t = _first_frame_with(source, inner, chunk_frames)
        y, x = (int(v) for v in np.argwhere(inner)[0])
        raise InputError(
            f"frame {t} contains NaN/infinite pixels inside the picture (first at y {y}, x {x}), "
            f"not only at its border; {needs} finite data ({fix})"
        )
    y0, y1, x0, x1 = largest_true_rectangle(valid)
    if y1 - y0 < MIN_SIDE_PX or x1 - x0 < MIN_SIDE_PX:
        raise InputError(
            f"the NaN/infinite border leaves no region of at least {MIN_SIDE_PX}x{MIN_SIDE_PX} "
            f"px finite in every frame of the {h}x{w} frame; {needs} finite data"
        )
    return ValidRegion((y0, y1), (x0, x1), (h, w))


def largest_true_rectangle(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1), half-open, of the largest-area rectangle of True in a 2-D mask (all 0
    when there is none): the maximal rectangle in a histogram, row by row, O(h * w). A greedy
    peel of edge rows and columns refused a NaN column running the full height (h12 review)."""
    h, w = mask.shape
    heights = np.zeros(w, np.int64)
    best, box = 0, (0, 0, 0, 0)
    for y in range(h):
        heights = np.where(mask[y], heights + 1, 0)
        stack: list[int] = []  # columns with increasing heights
        for x in range(w + 1):
            height = int(heights[x]) if x < w else 0
            while stack and heights[stack[-1]] >= height:
                top = int(heights[stack.pop()])
                left = stack[-1] + 1 if stack else 0
                if top * (x - left) > best:
                    best, box = top * (x - left), (y + 1 - top, y + 1, left, x)
            stack.append(x)
    return box


def _first_frame_with(source: FrameSource, mask: np.ndarray, chunk_frames: int) -> int:
    """The first frame with a non-finite pixel in `mask` (a second pass: only to say which)."""
    for t0, t1 in source.chunks(chunk_frames):
        hit = (~np.isfinite(source.read(t0, t1)) & mask).any(axis=(1, 2))
        if hit.any():
            return t0 + int(np.flatnonzero(hit)[0])
    return 0

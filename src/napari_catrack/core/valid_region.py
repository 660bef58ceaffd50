"""Movies with a NaN border: the pixels measured in every frame, for summary images and sources.

Other motion-correction tools (CaImAn with `border_nan=True`, suite2p-style exports, ImageJ
plugins) pad the edge a frame was shifted away from with NaN. Those pixels were not measured, so
the steps that need finite data (summary images, source extraction) work on the largest
rectangle of pixels finite in every frame and map their results back to the full frame (images:
NaN outside; footprints: 0 outside; centroids in full-frame coordinates).

The crop is looked for only after a step met a non-finite pixel (`NonFinitePixels`), so a clean
movie costs no extra pass. It is refused (the step's own message) when non-finite pixels are not
a border: a whole frame of NaN (a dropped frame), or a hole inside the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

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


def finite_region(source: FrameSource, chunk_frames: int = 200, cancel=None) -> ValidRegion | None:
    """The largest rectangle finite in every frame, when the non-finite pixels are a border.

    None when there is nothing to crop or the crop would be wrong: a frame with no finite pixel
    (a dropped frame: fill or drop it), non-finite pixels not connected to the frame's edge (a
    hole in the picture), or a region under `MIN_SIDE_PX` on a side.
    """
    h, w = source.shape[1:]
    valid = np.ones((h, w), bool)
    for t0, t1 in source.chunks(chunk_frames):
        check_cancelled(cancel, "looking for a NaN border")
        finite = np.isfinite(source.read(t0, t1))
        if not finite.any(axis=(1, 2)).all():
            return None
        valid &= finite.all(axis=0)
    if valid.all():
        return None
    labels, count = ndimage.label(~valid)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    if set(range(1, count + 1)) - set(edge.tolist()):
        return None  # non-finite pixels inside the picture: not a border
    y0, y1, x0, x1 = 0, h, 0, w
    while True:  # peel the edge row or column with the largest share of unmeasured pixels
        bad = ~valid[y0:y1, x0:x1]
        if not bad.any():
            break
        if y1 - y0 <= MIN_SIDE_PX or x1 - x0 <= MIN_SIDE_PX:
            return None
        rows, cols = bad.mean(axis=1), bad.mean(axis=0)
        side = int(np.argmax([rows[0], rows[-1], cols[0], cols[-1]]))
        if side == 0:
            y0 += 1
        elif side == 1:
            y1 -= 1
        elif side == 2:
            x0 += 1
        else:
            x1 -= 1
    if y1 - y0 < MIN_SIDE_PX or x1 - x0 < MIN_SIDE_PX:
        return None
    return ValidRegion((y0, y1), (x0, x1), (h, w))

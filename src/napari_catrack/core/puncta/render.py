"""The super-resolution image: a histogram of localisations on a fine grid, blurred by a Gaussian
(the usual "Gaussian-blurred histogram" render of ThunderSTORM and Picasso)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from napari_catrack.errors import InputError


def render_localizations(
    locs: pd.DataFrame,
    frame_shape: tuple[int, int],
    pixel_size_nm: float,
    render_nm: float = 10.0,
    blur_nm: float | None = None,
) -> tuple[np.ndarray, float]:
    """(image, render pixel size in camera pixels). Each localisation counts once, as in
    ThunderSTORM's histogram render; `blur_nm` defaults to the median localisation uncertainty
    (the precision the data supports)."""
    if not (render_nm > 0 and pixel_size_nm > 0):
        raise InputError("render and camera pixel sizes must be > 0 nm")
    h, w = frame_shape
    step = render_nm / pixel_size_nm  # camera px per render px
    ny, nx = max(1, int(np.ceil(h / step))), max(1, int(np.ceil(w / step)))
    if ny * nx > 64_000_000:
        raise InputError(f"a {render_nm:g} nm render of this field is too large; use a coarser one")
    img = np.zeros((ny, nx), np.float32)
    if len(locs):
        # camera pixel i spans [i - 0.5, i + 0.5): the render grid starts at the corner -0.5
        gy = np.floor((locs["y"].to_numpy(float) + 0.5) / step).astype(int)
        gx = np.floor((locs["x"].to_numpy(float) + 0.5) / step).astype(int)
        ok = (gy >= 0) & (gy < ny) & (gx >= 0) & (gx < nx)
        np.add.at(img, (gy[ok], gx[ok]), 1.0)
        if blur_nm is None:
            blur_nm = float(np.nanmedian(locs["uncertainty"])) * pixel_size_nm
    blur = max((blur_nm or render_nm) / render_nm, 1.0)  # at least one render pixel
    img = gaussian_filter(img, blur)
    return img, step

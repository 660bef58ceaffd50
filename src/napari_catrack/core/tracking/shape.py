"""Blob size at a peak: is the blob a track takes the size of the neuron it follows?

The tracker picks a neuron's peak by place and brightness. Neither tells a neuron's own blob
from a noise speck in the dark where an invisible neuron was (a one-pixel bump, only as wide as
the smoothing) or from a wider blob next to it (another cell, two merged in a projection).
The scale of a blob (the smallest sigma at which the scale-normalised Laplacian of Gaussian
at the peak stops growing) tells them apart: on ZephIR's recording the neurons' own blobs answer
at 2-4 px, the specks a lost neuron 22 took at 1-1.4 px (docs/tracking.md, "Blob size").

Not `scipy.ndimage.gaussian_laplace` or `skimage.feature.blob_log`: they filter the whole frame
at every scale (seven full-frame filters a frame), where the tracker needs the response at a few
candidate peaks only; the kernels are applied to those peaks' patches (one small product each).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SCALES = (1.0, 1.41, 2.0, 2.83, 4.0, 5.66, 8.0)
"""px: the Laplacian-of-Gaussian scales tried at a peak (sqrt(2) steps); the scale between two
is found by a parabola through the three responses around the best one."""


@lru_cache(maxsize=2)
def _kernels(scales: tuple[float, ...] = SCALES) -> np.ndarray:
    """(S, 2R+1, 2R+1) zero-mean kernels of -s^2 LoG(s): a bright Gaussian blob of s.d. b
    answers most at s = b, whatever its brightness (scale-normalised, as in Lindeberg's)."""
    r = int(np.ceil(3 * max(scales)))
    ax = np.arange(-r, r + 1, dtype=np.float64)
    rr = ax[:, None] ** 2 + ax[None, :] ** 2
    out = []
    for s in scales:
        g = np.exp(-rr / (2 * s * s)) / (2 * np.pi * s * s)
        k = -(s * s) * g * (rr - 2 * s * s) / s**4
        k[rr > (3 * s) ** 2] = 0.0  # truncated at 3 s, as the other filters here
        inside = rr <= (3 * s) ** 2
        k[inside] -= k[inside].mean()  # a flat background answers 0
        out.append(k)
    return np.stack(out).astype(np.float32)


def blob_scale(img: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """(K,) blob scale in px at integer `peaks` (K, 2) of the (smoothed) frame `img`.

    The scale of the image as given: a blob of s.d. b smoothed by s0 reads sqrt(b^2 + s0^2), so
    compare scales measured on frames smoothed alike (the tracker's). NaN where no scale
    answers positively (no bright blob there).
    """
    pk = np.asarray(peaks, dtype=np.int64).reshape(-1, 2)
    if len(pk) == 0:
        return np.zeros(0)
    k = _kernels()
    r = k.shape[-1] // 2
    h, w = img.shape
    off = np.arange(-r, r + 1)
    ys = np.clip(pk[:, 0, None] + off, 0, h - 1)  # the edge repeated outside the frame
    xs = np.clip(pk[:, 1, None] + off, 0, w - 1)
    patches = np.asarray(img, dtype=np.float32)[ys[:, :, None], xs[:, None, :]]
    resp = np.einsum("kyx,syx->ks", patches, k)  # (K, S)
    # the first scale at which the response peaks, from the smallest up (not the largest
    # response): at coarse scales a bright neighbour a few px away answers too (a neuron 7 px
    # from one 10x brighter read 8 px at its global maximum, 1.2 px at its first: still low,
    # its own size being 1.7-2 px, since the neighbour sits in the negative ring of the 2-3 px
    # kernels; docs/tracking.md, "Blob size check")
    falls = np.append(resp[:, 1:] < resp[:, :-1], np.ones((len(pk), 1), bool), axis=1)
    i = falls.argmax(axis=1)
    rows = np.arange(len(pk))
    mid = resp[rows, i]
    lo = resp[rows, np.maximum(i - 1, 0)]
    hi = resp[rows, np.minimum(i + 1, len(SCALES) - 1)]
    curv = lo - 2 * mid + hi
    inner = (i > 0) & (i < len(SCALES) - 1) & (curv < 0)
    shift = np.where(inner, 0.5 * (lo - hi) / np.where(inner, curv, -1.0), 0.0)
    step = np.log(SCALES[1] / SCALES[0])
    s = np.exp(np.log(np.asarray(SCALES))[i] + step * np.clip(shift, -0.5, 0.5))
    tiny = 1e-6 * np.abs(patches).max(axis=(1, 2))  # a flat patch answers ~0 (rounding)
    return np.where(mid > tiny, s, np.nan)

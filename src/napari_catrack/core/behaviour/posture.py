"""Posture from centerlines: tangent angles, curvature, body length and eigenworm amplitudes.

Eigenworms (Stephens et al. 2008): the mean-subtracted tangent angles of a centerline resampled
to 49 points (48 angles) are projected on a basis of principal shapes; the first 4-6
amplitudes describe almost all crawling postures. The standard N2 basis (Yemini et al. 2013,
OpenWorm's `master_eigen_worms_N2.mat`, MIT licence) is read from a file the user gives, or
fetched once through pooch with its SHA256 (`eigenworms="n2"`). `fit_eigenworms` computes a
basis from the user's own centerlines instead.

Frames without a trustworthy centerline ("failed", `CenterlineResult.posture_ok`) get NaN
posture, and the curvature kymograph's colour scale comes from the good frames only
(`kymograph`, `colour_limit`), so a few coils never set it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from napari_catrack.core.behaviour.centerline import resample
from napari_catrack.errors import InputError

N2_EIGENWORMS = {
    "url": "https://raw.githubusercontent.com/openworm/open-worm-analysis-toolbox/"
    "f4f28a9629dee79f94865d6ff7d0a8161d1d9bf0/open_worm_analysis_toolbox/features/"
    "master_eigen_worms_N2.mat",
    "sha256": "14aefe9dbf4e45b99fc11248d8a44f943f74159b2f7db3cafe322a49110ca030",
}


def tangent_angles(points: np.ndarray) -> np.ndarray:
    """(..., N-1) tangent angle (radians, unwrapped along the body) of (..., N, 2) (y, x) curves."""
    d = np.diff(np.asarray(points, float), axis=-2)
    return np.unwrap(np.arctan2(d[..., 0], d[..., 1]), axis=-1)


def curvature(points: np.ndarray, pixel_size: float = 1.0) -> np.ndarray:
    """(..., N) signed curvature (1/length unit) at every point, d(angle)/d(arc length).

    Positive when the body turns counter-clockwise on screen (y pointing down) walking from
    head to tail. Ends copy their neighbours so a kymograph has one column per point.
    """
    pts = np.asarray(points, float)
    ang = tangent_angles(pts)
    seg = np.linalg.norm(np.diff(pts, axis=-2), axis=-1) * pixel_size
    ds = 0.5 * (seg[..., 1:] + seg[..., :-1])
    k = -np.diff(ang, axis=-1) / np.maximum(ds, 1e-9)  # minus: y points down on screen
    return np.concatenate([k[..., :1], k, k[..., -1:]], axis=-1)


def body_length(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(np.asarray(points, float), axis=-2), axis=-1).sum(axis=-1)


def load_eigenworms(source: str | os.PathLike = "n2") -> np.ndarray:
    """A (k, n_angles) eigenworm basis from a .mat (v7.3/HDF5 or v5), .npy or .csv file.

    "n2" fetches the standard N2 basis once (pooch, SHA256-checked) into the user cache; offline
    that is a clear error naming the file to download.
    """
    if str(source).lower() == "n2":
        source = _fetch_n2()
    path = Path(source)
    if not path.is_file():
        raise InputError(f"eigenworm file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".mat":
            basis = _read_mat(path)
        elif suffix == ".npy":
            basis = np.load(path)
        else:
            basis = np.loadtxt(path, delimiter=",")
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot read eigenworms from {path.name}: {exc}") from None
    basis = np.atleast_2d(np.asarray(basis, float))
    if basis.shape[0] > basis.shape[1]:  # stored as (angles, modes)
        basis = basis.T
    if basis.shape[1] < 4 or not np.isfinite(basis).all():
        raise InputError(f"{path.name} does not hold an eigenworm basis (shape {basis.shape})")
    return basis


def _read_mat(path: Path) -> np.ndarray:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return np.asarray(f["eigenWorms"][()])
    except OSError:  # MATLAB v5 files are not HDF5
        from scipy.io import loadmat

        return np.asarray(loadmat(path)["eigenWorms"])


def _fetch_n2() -> Path:
    import pooch

    from napari_catrack.core.behaviour.embeddings import default_cache_dir

    try:
        return Path(
            pooch.retrieve(
                N2_EIGENWORMS["url"],
                known_hash=f"sha256:{N2_EIGENWORMS['sha256']}",
                fname="master_eigen_worms_N2.mat",
                path=default_cache_dir() / "eigenworms",
            )
        )
    except Exception as exc:  # offline, proxy, HTTP error
        raise InputError(
            f"cannot download the N2 eigenworms ({type(exc).__name__}); offline? Download "
            f"{N2_EIGENWORMS['url']} and give the file as the eigenworm basis"
        ) from None


def eigen_amplitudes(points: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(T, k) projections of each centerline's mean-subtracted tangent angles on the basis."""
    n_angles = basis.shape[1]
    pts = np.asarray(points, float)
    out = np.full((len(pts), basis.shape[0]), np.nan)
    for t, c in enumerate(pts):
        if not np.isfinite(c).all():
            continue
        ang = tangent_angles(resample(c, n_angles + 1))
        out[t] = basis @ (ang - ang.mean())
    return out


def fit_eigenworms(points: np.ndarray, k: int = 6, n_angles: int = 48) -> np.ndarray:
    """A (k, n_angles) basis from these centerlines (principal components of their angles)."""
    pts = np.asarray(points, float)
    good = np.isfinite(pts).all(axis=(1, 2))
    if good.sum() < k + 1:
        raise InputError(f"fitting {k} eigenworms needs more than {k} centerlines")
    ang = np.stack([tangent_angles(resample(c, n_angles + 1)) for c in pts[good]])
    ang -= ang.mean(axis=1, keepdims=True)
    _, _, vt = np.linalg.svd(ang - ang.mean(axis=0), full_matrices=False)
    return vt[:k]


def posture_table(
    points: np.ndarray,
    *,
    pixel_size_um: float | None = None,
    basis: np.ndarray | None = None,
    usable: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per frame: body length, mean |curvature|, and eigenworm amplitudes a1..ak (if a basis).

    usable: (T,) False for frames without a trustworthy centerline (`CenterlineResult.
    posture_ok`): their length, curvature and amplitudes are NaN, not the stand-in's.
    """
    pts = np.asarray(points, float).copy()
    if usable is not None:
        pts[~np.asarray(usable, bool)] = np.nan
    table = pd.DataFrame({"frame": np.arange(len(pts)), "length_px": body_length(pts)})
    k = curvature(pts)
    with np.errstate(invalid="ignore"):
        table["mean_abs_curvature_per_px"] = np.abs(k).mean(axis=1)
    if pixel_size_um:
        table["length_um"] = table["length_px"] * pixel_size_um
    if basis is not None:
        amps = eigen_amplitudes(pts, basis)
        for i in range(amps.shape[1]):
            table[f"a{i + 1}"] = amps[:, i]
    return table


def kymograph(
    points: np.ndarray, usable: np.ndarray | None = None, pixel_size: float = 1.0
) -> np.ndarray:
    """(T, N) curvature along the body per frame, NaN for frames without usable posture."""
    k = curvature(points, pixel_size)
    if usable is not None:
        k = k.copy()
        k[~np.asarray(usable, bool)] = np.nan
    return k


def median_length(
    points: np.ndarray, usable: np.ndarray | None = None, pixel_size: float = 1.0
) -> float | None:
    """The body's median length over the `usable` frames, in µm with a `pixel_size` (else px):
    the floor of a kymograph's colour limits (`colour_limit`); None without a usable frame."""
    pts = np.asarray(points, float)
    if usable is not None:
        pts = pts[np.asarray(usable, bool)]
    lengths = body_length(pts) * pixel_size if len(pts) else np.array([])
    lengths = lengths[np.isfinite(lengths)]
    return float(np.median(lengths)) if lengths.size else None


def colour_limit(
    kymo: np.ndarray,
    good: np.ndarray | None = None,
    percentile: float = 99.0,
    length: float | None = None,
):
    """Symmetric colour limit of a curvature kymograph: a high percentile of |curvature| over
    the good frames only (`CenterlineResult.reliable`), so a few coils or failed fits do not
    set the scale and wash the rest out. Falls back to every finite value, then to 1.

    `length`, the body's length in the unit the curvature is per (px or µm), floors the limit
    at 1/length (a bend of one radian spread over the whole body): a straight worm's curvature
    is rounding noise (±3e-17), which the percentile alone stretched to full-scale stripes. A
    crawling worm's bends are far above it (docs/behaviour.md: mean |curvature| 0.052/px over
    an 88 px body, 4.6/length; its 99th percentile higher still)."""
    vals = np.abs(np.asarray(kymo, float))
    if good is not None and np.isfinite(vals[np.asarray(good, bool)]).any():
        vals = vals[np.asarray(good, bool)]
    vals = vals[np.isfinite(vals)]
    lim = float(np.percentile(vals, percentile)) if vals.size else 0.0
    if length is not None and np.isfinite(length) and length > 0:
        lim = max(lim, 1.0 / float(length))
    return lim if lim > 0 else 1.0

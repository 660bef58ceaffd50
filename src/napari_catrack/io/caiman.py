"""Read CaImAn's HDF5 results (`cnmf.save("results.hdf5")`) as sources.

CaImAn writes the CNMF object with `save_dict_to_hdf5`: the estimates under `/estimates/`,
sparse matrices as groups of `data`, `indices`, `indptr`, `shape` (CSC), `None` as the string
'NoneType', the parameters under `/params/` (frame rate: `/params/data/fr`), and `/dims`.
`A` is (pixels, K) with pixels in Fortran order of `dims` (CaImAn reshapes with order='F');
`C` (K, T) the denoised traces, `S` the spikes, `YrA` the residuals (raw = C + YrA),
`idx_components` the accepted components (0-based), `SNR_comp` and `r_values` the evaluation.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
from scipy import sparse

from napari_catrack.core.sources.imported import imported_result
from napari_catrack.errors import InputError


def _get(group, name):
    """A dataset's value, or None when absent or saved as CaImAn's 'NoneType'."""
    if name not in group:
        return None
    item = group[name]
    if isinstance(item, h5py.Group):
        return item
    val = item[()]
    if isinstance(val, bytes | str) and val in (b"NoneType", "NoneType"):
        return None
    return val


def read_caiman(path: str | os.PathLike, *, fps: float | None = None):
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} is not a file: give CaImAn's results .hdf5 file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise InputError(f"{path.name} is not an HDF5 file, so not a CaImAn result") from None
    with f:
        if "estimates" not in f or "A" not in f["estimates"]:
            raise InputError(f"{path.name} is not a CaImAn result: no /estimates/A in it")
        est = f["estimates"]
        a = est["A"]
        if not isinstance(a, h5py.Group) or not {"data", "indices", "indptr", "shape"} <= set(a):
            raise InputError(f"{path.name}: /estimates/A is not a sparse matrix as CaImAn saves it")
        A = sparse.csc_matrix((a["data"][()], a["indices"][()], a["indptr"][()]), shape=tuple(a["shape"][()]))  # fmt: skip
        C = _get(est, "C")
        if C is None:
            raise InputError(f"{path.name} has no traces (/estimates/C)")
        C = np.atleast_2d(np.asarray(C, float))
        dims = _get(est, "dims")
        if dims is None:
            dims = _get(f, "dims")
        if dims is None:
            raise InputError(f"{path.name} does not say the image size (/estimates/dims or /dims)")
        dims = tuple(int(d) for d in np.asarray(dims).ravel()[:2])
        if A.shape[0] != dims[0] * dims[1] or A.shape[1] != C.shape[0]:
            raise InputError(f"{path.name}: A is {A.shape} but dims {dims} and {C.shape[0]} traces")
        yra, s = _get(est, "YrA"), _get(est, "S")
        idx = _get(est, "idx_components")
        r = _get(est, "r_values")
        rate = fps or (_get(f["params"]["data"], "fr") if "params" in f and "data" in f["params"] else None)  # fmt: skip
    if not rate:
        raise InputError("the CaImAn result has no frame rate (/params/data/fr): give it (--fps)")
    k = C.shape[0]
    fp = np.stack([A[:, i].toarray().reshape(dims, order="F") for i in range(k)]) if k else np.zeros((0, *dims))  # fmt: skip
    raw = C + (np.asarray(yra, float) if yra is not None else 0.0)
    accepted = np.ones(k, bool)
    if idx is not None:
        accepted = np.zeros(k, bool)
        accepted[np.asarray(idx, int).ravel()] = True
    return imported_result(
        "CaImAn", fp, raw, fps=float(rate), ids=np.arange(k), denoised=C,
        spikes=None if s is None else np.asarray(s, float), accepted=accepted,
        r_value=None if r is None or np.size(r) != k else np.asarray(r, float),
    )  # fmt: skip

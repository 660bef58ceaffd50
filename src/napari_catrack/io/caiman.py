"""Read CaImAn's HDF5 results (`cnmf.save("results.hdf5")`) as sources.

CaImAn writes the CNMF object with `save_dict_to_hdf5`: the estimates under `/estimates/`,
sparse matrices as groups of `data`, `indices`, `indptr`, `shape` (CSC), `None` as the string
'NoneType', the parameters under `/params/` (frame rate: `/params/data/fr`), and `/dims`.
`A` is (pixels, K) with pixels in Fortran order of `dims` (CaImAn reshapes with order='F');
`C` (K, T) the denoised traces, `S` the spikes, `YrA` the residuals (raw = C + YrA),
`idx_components` the accepted components (0-based), `SNR_comp` and `r_values` the evaluation,
`b` (pixels, nb) and `f` (nb, T) the low-rank background. The components `select_components`
set aside (`/estimates/discarded_components`, the rejected ones) are imported after the kept
ones, rejected with the reason `SET_ASIDE`, so they can be reviewed and accepted (h22).

dF/F follows CaImAn's `detrend_df_f`: C sits on ~0 (the baseline is in the background), so the
cell's F0 is the baseline of C + YrA plus the background under its footprint,
a·(b f) / |a|^2 in the units of C (detrend_df_f normalises A to unit norm, which is the same),
with the running percentile at the trace's mode. Without b, f (CNMF-E's ring model) CaImAn only
detrends; so does the import, and it says so (core/sources/dff.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
from scipy import sparse

from napari_catrack.core.sources.footprints import Footprints
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


def _matrix(item, name: str, where: str):
    """A dense 2-D array from a dataset or a CSC group as CaImAn saves sparse matrices."""
    if item is None:
        return None
    if isinstance(item, h5py.Group):
        if not {"data", "indices", "indptr", "shape"} <= set(item):
            raise InputError(f"{where}: /estimates/{name} is neither an array nor a sparse matrix")
        shape = tuple(int(v) for v in item["shape"][()])
        return sparse.csc_matrix((item["data"][()], item["indices"][()], item["indptr"][()]), shape=shape).toarray()  # fmt: skip
    try:
        return np.asarray(item, float)
    except (TypeError, ValueError):
        raise InputError(f"{where}: /estimates/{name} is not a numeric array") from None


def _background(A, b, f, t: int, where: str):
    """The background under each footprint, a·(b f) / |a|^2 (K, T), or None without one."""
    if b is None or f is None:
        return None
    b = b.reshape(-1, 1) if b.ndim == 1 else b
    f = f.reshape(1, -1) if f.ndim == 1 else f
    if b.shape[0] != A.shape[0] or f.shape != (b.shape[1], t):
        raise InputError(
            f"{where}: the background b is {b.shape} and f {f.shape}, but A has {A.shape[0]} "
            f"pixels and C {t} frames: files from different runs?"
        )
    if not b.size or not np.any(b):
        return None
    norm2 = np.asarray(A.multiply(A).sum(axis=0)).ravel()
    atb = np.asarray(A.T @ b)
    return (atb @ f) / np.where(norm2 > 0, norm2, 1.0)[:, None]


def _discarded(est) -> int | None:
    """How many components `select_components` set aside in /estimates/discarded_components
    (an Estimates saved as a group, A sparse), or None when there are none."""
    group = _get(est, "discarded_components")
    if not isinstance(group, h5py.Group) or "A" not in group:
        return None
    a = group["A"]
    shape = _get(a, "shape") if isinstance(a, h5py.Group) else getattr(a, "shape", None)
    if shape is None or len(shape) != 2:
        return None
    return int(shape[1]) or None


SET_ASIDE = "discarded by CaImAn's select_components"  # the reason of a set-aside component


def _set_aside(est, n_pixels: int, t: int) -> tuple[dict | None, str]:
    """The components `select_components` set aside in /estimates/discarded_components (an
    Estimates saved as a group: sparse A, C, YrA, S, r_values of the rejected ones, in their
    order; CaImAn's `restore_discarded_components` appends them after the kept ones): ({"A",
    "C", "YrA", "S", "r", "cnn"}, ""), YrA, S, r (r_values), cnn (cnn_preds) None when not saved; or (None, why they cannot be
    read), why "" when there are none. The background b, f is the whole field's, so the kept
    components' applies to them too."""
    group = _get(est, "discarded_components")
    if not isinstance(group, h5py.Group) or "A" not in group:
        return None, ""
    a = group["A"]
    if not isinstance(a, h5py.Group) or not {"data", "indices", "indptr", "shape"} <= set(a):
        return None, "its A is not a sparse matrix as CaImAn saves it"
    A = sparse.csc_matrix((a["data"][()], a["indices"][()], a["indptr"][()]), shape=tuple(int(v) for v in a["shape"][()]))  # fmt: skip
    if not A.shape[1]:
        return None, ""
    C = _get(group, "C")
    if C is None:
        return None, "it has no traces (C)"
    C = np.atleast_2d(np.asarray(C, float))
    if A.shape[0] != n_pixels or C.shape != (A.shape[1], t):
        return None, (f"its A is {A.shape} and C {C.shape}, but the kept components have "
                      f"{n_pixels} pixels and {t} frames: files from different runs?")  # fmt: skip
    parts = {"A": A, "C": C}
    for key in ("YrA", "S"):  # one per component and frame, or none
        val = _get(group, key)
        val = None if val is None else np.asarray(val, float)
        parts[key] = val.reshape(C.shape) if val is not None and val.size == C.size else None
    for name, key in (("r", "r_values"), ("cnn", "cnn_preds")):  # one per component, or none
        val = _get(group, key)
        val = None if val is None else np.asarray(val, float).ravel()
        parts[name] = val if val is not None and val.size == C.shape[0] else None
    return parts, ""


def read_caiman(path: str | os.PathLike, *, fps: float | None = None, baseline_window_s: float | None = None):  # fmt: skip
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
        full = tuple(int(d) for d in np.asarray(dims).ravel())
        if len(full) > 2 and int(np.prod(full[2:])) > 1:  # CaImAn's 3-D CNMF: (d1, d2, d3)
            raise InputError(
                f"{path.name} is a 3-D (volumetric) CaImAn result (dims "
                f"{' x '.join(map(str, full))}): its footprints are volumes, and only 2-D "
                f"results can be imported"
            )
        dims = full[:2]
        if A.shape[0] != dims[0] * dims[1] or A.shape[1] != C.shape[0]:
            raise InputError(f"{path.name}: A is {A.shape} but dims {dims} and {C.shape[0]} traces")
        yra, s = _get(est, "YrA"), _get(est, "S")
        b, fb = _matrix(_get(est, "b"), "b", path.name), _matrix(_get(est, "f"), "f", path.name)
        idx = _get(est, "idx_components")
        r = _get(est, "r_values")
        cnn = _get(est, "cnn_preds")  # the CNN classifier's probability of a neuron, if run
        evaluated = any(_get(est, key) is not None for key in ("r_values", "SNR_comp", "cnn_preds"))
        set_aside = _discarded(est)
        aside, aside_why = _set_aside(est, A.shape[0], C.shape[1])
        stored = _get(f["params"]["data"], "fr") if "params" in f and "data" in f["params"] else None  # fmt: skip
        rate = fps or stored
    if not rate:
        raise InputError("the CaImAn result has no frame rate (/params/data/fr): give it (--fps)")
    k, t = C.shape
    notes = [f"fs {float(fps):g} Hz (given)" if fps else f"fs {float(rate):g} Hz (from /params/data/fr)"]  # fmt: skip
    warnings = []
    if fps and stored and abs(float(stored) - fps) > 1e-6 * fps:
        warnings.append(f"frame rate {fps:g} Hz given, but /params/data/fr says {float(stored):g} Hz: {fps:g} Hz used")  # fmt: skip
    if yra is not None:
        yra = np.atleast_2d(np.asarray(yra, float))
        if yra.shape != C.shape:
            raise InputError(
                f"{path.name}: /estimates/YrA is {yra.shape} but C {C.shape}: files from "
                f"different runs?"
            )
    raw = C + (yra if yra is not None else 0.0)
    accepted = np.ones(k, bool)
    if idx is None and set_aside is not None:  # select_components kept the accepted ones
        notes.append(
            f"no idx_components: CaImAn's select_components kept only the accepted components "
            f"and set {set_aside} rejected component(s) aside in /estimates/discarded_components"
            + (": every kept component accepted" if aside is not None else
               f" (not imported: {aside_why}): every component here accepted")
        )  # fmt: skip
    elif idx is None and evaluated:
        notes.append(
            "no idx_components, but the components were evaluated (r_values/SNR_comp/cnn_preds): "
            "CaImAn's select_components clears it once it has kept the accepted ones: every "
            "component here accepted"
        )
    elif idx is None:  # "16 accepted" would read as CaImAn's verdict
        notes.append("no idx_components (not evaluated in CaImAn): every component accepted")
    else:
        idx = np.asarray(idx).ravel()
        if idx.dtype.kind not in "iu" and not (idx.dtype.kind == "f" and np.all(idx == np.round(idx))):  # fmt: skip
            raise InputError(f"{path.name}: /estimates/idx_components is not a list of indices")
        idx = idx.astype(int)
        if idx.size and (idx.min() < 0 or idx.max() >= k):
            bad = idx[(idx < 0) | (idx >= k)]
            raise InputError(
                f"{path.name}: /estimates/idx_components holds {bad[0]}, but there are {k} "
                f"components (0 to {k - 1}): files from different runs?"
            )
        accepted = np.zeros(k, bool)
        accepted[idx] = True
    k_kept, r = k, None if r is None or np.size(r) != k else np.asarray(r, float).ravel()
    cnn = None if cnn is None or np.size(cnn) != k else np.asarray(cnn, float).ravel()
    if aside is not None:  # h22: imported for review, rejected, after the kept ones
        m = aside["C"].shape[0]
        A = sparse.hstack([A, aside["A"]]).tocsc()
        yra = np.concatenate([yra if yra is not None else np.zeros_like(C),
                              aside["YrA"] if aside["YrA"] is not None else np.zeros_like(aside["C"])])  # fmt: skip
        C = np.concatenate([C, aside["C"]])
        raw = C + yra
        if s is not None or aside["S"] is not None:
            s_kept = np.atleast_2d(np.asarray(s, float)) if s is not None else np.full((k_kept, t), np.nan)  # fmt: skip
            s = np.concatenate([s_kept, aside["S"] if aside["S"] is not None else np.full((m, t), np.nan)])  # fmt: skip
        if r is not None or aside["r"] is not None:
            r = np.concatenate([r if r is not None else np.full(k_kept, np.nan),
                                aside["r"] if aside["r"] is not None else np.full(m, np.nan)])  # fmt: skip
        if cnn is not None or aside["cnn"] is not None:
            cnn = np.concatenate([cnn if cnn is not None else np.full(k_kept, np.nan),
                                  aside["cnn"] if aside["cnn"] is not None else np.full(m, np.nan)])  # fmt: skip
        accepted = np.concatenate([accepted, np.zeros(m, bool)])
        k = k_kept + m
        notes.append(
            f"{m} component(s) set aside by select_components imported for review after the "
            f"kept ones (ids {k_kept} to {k - 1}, as restore_discarded_components orders them): "
            f'rejected, reason "{SET_ASIDE}"'
        )
    elif aside_why:
        warnings.append(f"the component(s) set aside in /estimates/discarded_components were not imported: {aside_why}")  # fmt: skip
    fp = _footprints(A, dims)
    bg = _background(A, b, fb, t, path.name)
    notes.append(
        "dF/F relative to C + YrA's baseline plus the background b, f under each footprint"
        if bg is not None
        else "no background (b, f) in the file, or an empty one: dF/F relative to C + YrA's own baseline"
    )
    result = imported_result(
        "CaImAn", fp, raw, fps=float(rate), ids=np.arange(k), denoised=C,
        spikes=None if s is None else np.asarray(s, float), accepted=accepted,
        r_value=r, background=bg, baseline="caiman", notes=notes, warnings=warnings,
        tool_fps=float(stored) if stored else None, baseline_window_s=baseline_window_s,
    )  # fmt: skip
    if cnn is not None:  # as suite2p's iscell probability (h22)
        result.components["tool_probability"] = cnn
    if k > k_kept:  # the tool's decision stays visible: why these are rejected
        result.components.loc[k_kept:, "reason"] = SET_ASIDE
    return result


def _footprints(A, dims) -> Footprints:
    """CaImAn's A (pixels in Fortran order of `dims`, K) as `Footprints` (row-major pixels),
    kept sparse: never a full frame per component."""
    ly, lx = int(dims[0]), int(dims[1])
    A = sparse.csc_matrix(A, dtype=np.float32)
    A.sum_duplicates()
    x, y = np.divmod(A.indices.astype(np.int64), ly)
    m = sparse.csc_matrix((A.data, y * lx + x, A.indptr), shape=(ly * lx, A.shape[1]))
    m.sort_indices()
    return Footprints(m, (ly, lx))

"""Sources from another tool's output, in the same form as our own extraction.

The readers in `io/suite2p.py`, `io/caiman.py` and `io/minian.py` only parse files; this builds
the `SourcesResult` (components table, dF/F) the same way for all of them, so imported cells flow
into the same files, session step and widgets as extracted ones. The tool's own verdict (suite2p
`iscell`, CaImAn `idx_components`) becomes `accepted`, with the reason "rejected by <tool>";
`neuron_id` keeps the tool's own index (suite2p ROI index, CaImAn component index, Minian unit_id).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.sources.deconv import trace_noise
from napari_catrack.core.sources.dff import dff_and_kind
from napari_catrack.core.sources.evaluation import area, peak_snr
from napari_catrack.core.sources.extract import SourcesResult, centroids
from napari_catrack.core.sources.footprints import as_footprints
from napari_catrack.core.sources.params import SourcesParams
from napari_catrack.errors import InputError, check_cancelled

TOOL_NAMES = {"suite2p": "suite2p", "caiman": "CaImAn", "minian": "Minian", "imagej": "ImageJ"}


def tool_name(tool: str | None) -> str | None:
    """A tool's proper name for user text ("caiman" -> "CaImAn"); CLI words stay lower case."""
    return None if tool is None else TOOL_NAMES.get(str(tool).lower(), tool)


def imported_result(
    tool: str,
    footprints,
    raw: np.ndarray,
    *,
    fps: float,
    ids=None,
    denoised: np.ndarray | None = None,
    spikes: np.ndarray | None = None,
    background: np.ndarray | None = None,
    accepted: np.ndarray | None = None,
    r_value: np.ndarray | None = None,
    baseline: str = "percentile",
    notes: list[str] | None = None,
    warnings: list[str] | None = None,
    tool_fps: float | None = None,
    baseline_window_s: float | None = None,
) -> SourcesResult:
    """`footprints`: (K, Y, X) or `Footprints` (kept sparse); `background`: the background under each cell, in the units of `raw` (K, T) (dF/F is
    relative to baseline + background); `baseline`: "percentile" or "caiman" (see
    core/sources/dff.py); `notes`: how the input was read; `warnings`: what to check;
    `tool_fps`: the frame rate the tool stored (None when it stores none);
    `baseline_window_s`: the dF/F baseline's running window (None: `SourcesParams`' default, the
    one our extraction uses), recorded in the import's provenance (`made_with`)."""
    fp = as_footprints(footprints)  # sparse from here on (a dense stack is converted)
    raw = np.atleast_2d(np.asarray(raw, np.float64))
    k, t = raw.shape
    if len(fp) != k:
        raise InputError(f"the {tool} output has {len(fp)} footprints but {k} traces")
    peak = fp.peaks()
    if (peak[peak > 0] != 1).any():  # binary masks (ImageJ) are already peak 1: no copy
        fp = fp.scaled(np.where(peak > 0, peak, 1))
    nan = np.full((k, t), np.nan)
    den = nan if denoised is None else np.asarray(denoised, np.float64)
    spk = nan if spikes is None else np.asarray(spikes, np.float64)
    for name, arr in (("denoised", den), ("spikes", spk)):
        if arr.shape != (k, t):
            raise InputError(f"the {tool} {name} traces are {arr.shape}, expected {(k, t)}")
    cen = centroids(fp) if k else np.zeros((0, 2))
    acc = np.ones(k, bool) if accepted is None else np.asarray(accepted, bool)
    comps = pd.DataFrame(
        {
            "neuron_id": np.arange(k) if ids is None else np.asarray(ids),
            "y": cen[:, 0],
            "x": cen[:, 1],
            "area": area(fp) if k else np.zeros(0, int),
            "snr": peak_snr(raw, None if denoised is None else den, trace_noise(raw))
            if k
            else np.zeros(0),
            "r_value": np.full(k, np.nan) if r_value is None else np.asarray(r_value, float),
            "accepted": acc,
            "reason": np.where(acc, "", f"rejected by {tool}"),
        }
    )
    warned = list(warnings or [])
    ids = comps["neuron_id"].to_numpy()
    if baseline_window_s is None:  # the one place for defaults (h21: was dff.py's own 30 s)
        baseline_window_s = SourcesParams().baseline_window_s
    window = float(baseline_window_s)
    dff, comps["dff_kind"] = dff_and_kind(raw, background, fps, window, baseline=baseline, notes=warned, ids=ids)  # fmt: skip
    params = SourcesParams(baseline_window_s=window)
    return SourcesResult(fp, comps, raw, den, spk, dff, float(fps), params=params, warnings=warned, notes=list(notes or []), tool_fps=tool_fps, made_with={"baseline_window_s": window})  # fmt: skip


def mask_means(
    frames, masks: np.ndarray, chunk_bytes: int = 64 * 2**20, *, progress=None, cancel=None
) -> np.ndarray:
    """(K, T) mean of each binary mask's pixels in every frame of `frames` (an `io.frames`
    `FrameSource`), read in chunks of about `chunk_bytes` so a long movie is never in memory
    whole; the masks (K, Y, X) bool, or already a (K, Y*X) scipy sparse 0/1 matrix (many small
    ROIs in a large frame: never a full frame per ROI), used as a sparse matrix.
    `progress(done, total, what)` after each chunk, `cancel()` checked between chunks (widgets)."""
    from scipy import sparse

    if sparse.issparse(masks):
        m = sparse.csr_matrix(masks, dtype=np.float64)
    else:
        m = sparse.csr_matrix(np.asarray(masks, bool).reshape(len(masks), -1)).astype(np.float64)
    counts = np.asarray(m.sum(axis=1)).ravel()
    if (counts == 0).any():
        raise InputError("an empty mask has no mean")
    n_px = int(np.prod(frames.shape[1:]))
    out = np.empty((m.shape[0], frames.n_frames))
    for t0, t1 in frames.chunks(max(1, chunk_bytes // (8 * n_px))):
        chunk = np.asarray(frames.read(t0, t1), np.float64).reshape(t1 - t0, n_px)
        out[:, t0:t1] = np.asarray(m @ chunk.T) / counts[:, None]
        if progress is not None:
            progress(t1, frames.n_frames, "mean inside each ROI")
        check_cancelled(cancel, "the ROI import")
    return out

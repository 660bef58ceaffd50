"""Component evaluation like CaImAn's: SNR of the trace, spatial r-value, size -> accept/reject.

- snr: the peak of the denoised trace above the raw trace's median, in units of the raw trace's
  noise (power-spectrum estimate). CaImAn's `SNR_comp` comes from the exceptionality of events;
  a peak SNR ranks components the same way and reads directly as "how many noise s.d.".
- r_value: CaImAn's `classify_components_ep` spatial test: the movie averaged over the frames
  where the component is most active (its top 5 %, at least 3 frames), minus the movie's mean,
  correlated with the footprint over the footprint's neighbourhood. A real cell's activity looks
  like its footprint; noise and neuropil do not.
- area: pixels of the footprint above 20 % of its peak.

`evaluate` applies thresholds to a components table without recomputing anything, which is what
makes the widget's live count of accepted components cheap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.sources.params import EvaluationParams

AREA_LEVEL = 0.2


def peak_snr(raw: np.ndarray, denoised: np.ndarray | None, noise: np.ndarray) -> np.ndarray:
    """Peak of the denoised trace (or, without one, of the raw trace smoothed over 3 frames)
    above the raw trace's median, in noise s.d."""
    if denoised is None or not np.isfinite(denoised).any():
        from scipy.ndimage import uniform_filter1d

        denoised = uniform_filter1d(raw, 3, axis=1)
    base = np.median(raw, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(noise > 0, (denoised.max(axis=1) - base) / noise, 0.0)


def r_values(Y: np.ndarray, A: np.ndarray, C: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Spatial r-value of each component of a patch: Y (P, T), A (P, K), C (K, T)."""
    mean = Y.mean(axis=1)
    out = np.zeros(A.shape[1])
    t = C.shape[1]
    n_top = max(3, int(0.05 * t))
    for k in range(A.shape[1]):
        top = np.argsort(C[k])[-n_top:]
        excess = Y[:, top].mean(axis=1) - mean
        m = support[:, k]
        a, e = A[m, k], excess[m]
        if a.std() > 0 and e.std() > 0:
            out[k] = float(np.corrcoef(a, e)[0, 1])
    return out


def area(footprints: np.ndarray) -> np.ndarray:
    """Pixels above `AREA_LEVEL` of each footprint's peak; footprints (K, Y, X) or `Footprints`."""
    if hasattr(footprints, "area"):
        return footprints.area(AREA_LEVEL)
    k = len(footprints)
    flat = footprints.reshape(k, -1)
    return (flat > AREA_LEVEL * flat.max(axis=1, keepdims=True)).sum(axis=1)


def evaluate(components: pd.DataFrame, params: EvaluationParams | None = None) -> pd.DataFrame:
    """The table with `accepted` and `reason` from the thresholds (empty reason when accepted).

    A measure that is missing (NaN: suite2p and Minian give no r-value) is not tested: no
    threshold can judge it, so it neither accepts nor rejects; `untested` says so."""
    p = params or EvaluationParams()
    out = components.copy()
    reasons = []
    for snr, r, a in out[["snr", "r_value", "area"]].itertuples(index=False):
        why = []
        if np.isfinite(snr) and snr < p.min_snr:
            why.append(f"SNR {snr:.1f} < {p.min_snr:g}")
        if np.isfinite(r) and r < p.min_r:
            why.append(f"r-value {r:.2f} < {p.min_r:g}")
        if a < p.min_area_px:
            why.append(f"area {int(a)} px < {p.min_area_px}")
        if a > p.max_area_px:
            why.append(f"area {int(a)} px > {p.max_area_px}")
        reasons.append("; ".join(why))
    out["reason"] = reasons
    out["accepted"] = [not r for r in reasons]
    return out


MEASURES = {"snr": "SNR", "r_value": "r-value"}


def untested(components: pd.DataFrame) -> str:
    """What `evaluate` could not test (missing measures), in words; "" when everything was."""
    said = []
    for column, name in MEASURES.items():
        missing = int((~np.isfinite(components[column].to_numpy(float))).sum()) if len(components) else 0  # fmt: skip
        if missing:
            said.append(f"{name} not measured for {missing} of {len(components)} components (not tested)")  # fmt: skip
    return "; ".join(said)


def judge(
    components: pd.DataFrame,
    params: EvaluationParams | None = None,
    *,
    tool: str | None = None,
    rejudge_imported: bool = False,
) -> pd.DataFrame:
    """New thresholds applied to a session's components.

    Extracted components (`tool` None) are evaluated (`evaluate`). Imported ones (`tool`: suite2p, CaImAn,
    Minian) keep the tool's own verdict unless `rejudge_imported`: that verdict is kept in the
    columns `tool_accepted` / `tool_reason` (added the first time), so un-ticking the choice
    brings it back. The column `judged_by` says, per component, whose verdict `accepted` is.
    """
    out = components.copy()
    if tool is None:
        return evaluate(out, params)
    if "tool_accepted" not in out:
        out["tool_accepted"] = out["accepted"].astype(bool)
        out["tool_reason"] = out["reason"].fillna("").astype(str)
    if rejudge_imported:
        out = evaluate(out, params)
        out["judged_by"] = "thresholds"
    else:
        out["accepted"] = out["tool_accepted"].astype(bool)
        out["reason"] = out["tool_reason"]
        out["judged_by"] = tool
    return out


def rejudged(components: pd.DataFrame) -> bool:
    """Whether imported components were re-judged with thresholds (see `judge`)."""
    return "tool_accepted" in components and bool((components.get("judged_by") == "thresholds").any())  # fmt: skip

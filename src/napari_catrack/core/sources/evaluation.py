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
    out["accepted"] = np.array([not r for r in reasons], dtype=bool)  # bool with no cells too
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


def tool_accepted(values) -> pd.Series:
    """An imported tool's own verdict per cell (`tool_accepted`) as a nullable boolean: True,
    False, or <NA> for a cell the tool never judged (drawn or reshaped by hand). Read from what
    any version stored: booleans, the floats 1.0 / 0.0 / NaN of sessions and components.csv
    files written before h20, or the words True / False / empty of a CSV."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.BooleanDtype):
        return s
    words = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    out = []
    for v in s.to_numpy(dtype=object):
        if v is None or v is pd.NA or (isinstance(v, float) and v != v):
            out.append(pd.NA)
        elif isinstance(v, str):
            out.append(words.get(v.strip().lower(), pd.NA))
        else:
            out.append(bool(v))
    return pd.Series(pd.array(out, dtype="boolean"), index=s.index, name=s.name)


def typed_components(comps: pd.DataFrame) -> pd.DataFrame:
    """A components table with `tool_accepted` (an imported tool's own verdict, when the cells
    were re-judged or fitted) as nullable booleans, whatever stored it (`tool_accepted`: floats
    in sessions and files written before h20); the table itself when it has no such column."""
    if "tool_accepted" not in comps:
        return comps
    return comps.assign(tool_accepted=tool_accepted(comps["tool_accepted"]))


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
    Cells drawn or reshaped by hand on the import ("Fit drawn/edited cells", `refit_components`
    given the tool) have no tool verdict (`tool_accepted` NaN): the thresholds judge them.
    """
    out = components.copy()
    if tool is None:
        return evaluate(out, params)
    if "tool_accepted" not in out:
        out["tool_accepted"] = out["accepted"].astype(bool)
        out["tool_reason"] = out["reason"].fillna("").astype(str)
    out["tool_accepted"] = tool_accepted(out["tool_accepted"])  # older sessions: floats
    own = out["tool_accepted"].notna().to_numpy(copy=True)  # the tool judged it (not drawn by hand)
    thresholds = evaluate(out, params)
    if rejudge_imported:
        own[:] = False
    out["accepted"] = np.where(own, out["tool_accepted"].fillna(False).to_numpy(bool), thresholds["accepted"])  # fmt: skip
    out["reason"] = np.where(own, out["tool_reason"].fillna("").astype(str), thresholds["reason"])
    out["judged_by"] = np.where(own, tool, "thresholds")
    return out


def tool_verdicts(before: pd.DataFrame, after: pd.DataFrame, refitted: np.ndarray, tool: str) -> pd.DataFrame:  # fmt: skip
    """`after` (cells fitted again, `refitted`, or drawn: rows past `before`'s) with the imported
    tool's own verdicts kept for `judge`: the other cells keep theirs (`tool_accepted`,
    `tool_reason`, or the `accepted`/`reason` they had), the drawn and reshaped ones get none
    (NaN: the tool never judged that footprint) and are judged by the thresholds."""
    out = after.copy()
    n = len(before)
    mine = np.zeros(len(out), bool)
    mine[:n] = ~np.asarray(refitted[:n], bool)
    had = "tool_accepted" in before
    acc = tool_accepted(before["tool_accepted"] if had else before["accepted"].astype(bool)).to_numpy(object)  # fmt: skip
    why = (before["tool_reason"] if had else before["reason"]).fillna("").astype(str).to_numpy(object)  # fmt: skip
    by = before["judged_by"].to_numpy(object) if "judged_by" in before else np.full(n, tool, object)
    mine[:n] &= pd.notna(acc)  # a cell drawn by an earlier fit: still none
    out["tool_accepted"] = pd.array([bool(acc[k]) if mine[k] else pd.NA for k in range(len(out))], dtype="boolean")  # fmt: skip
    out["tool_reason"] = [why[k] if mine[k] else "" for k in range(len(out))]
    out["judged_by"] = [by[k] if mine[k] else "thresholds" for k in range(len(out))]
    return out


def rejudged(components: pd.DataFrame) -> bool:
    """Whether imported components were re-judged with thresholds (see `judge`): a cell the tool
    judged has the thresholds' verdict (a drawn cell's is always theirs)."""
    if "tool_accepted" not in components or "judged_by" not in components:
        return False
    own = components["tool_accepted"].notna().to_numpy()
    return bool(((components["judged_by"] == "thresholds").to_numpy() & own).any())

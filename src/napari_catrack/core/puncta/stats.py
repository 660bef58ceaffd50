"""Co-localisation of calcium signals and puncta, and per-track summaries.

Two complementary questions, each against its own null:
1. *At puncta, is there more calcium signalling than elsewhere?* The event fraction of punctum
   frames against the same score at control positions (every localisation moved 1-2 um in a
   random direction, same frame): ratio and Fisher's exact test.
2. *Are calcium hotspots at puncta?* The fraction of local calcium maxima (anywhere in the
   frame) that lie within `radius_nm` of a punctum in the same frame, against the fraction
   expected if hotspots were placed at random: 1 - exp(-density x pi r^2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from scipy.stats import fisher_exact

from napari_catrack.core.puncta.calcium import CalciumCall


def colocalisation(
    locs: pd.DataFrame,
    call: CalciumCall,
    threshold: float,
    frame_shape: tuple[int, int],
    pixel_size_nm: float,
    radius_nm: float = 300.0,
) -> dict:
    """JSON-able statistics (see the module docstring); NaN where there is nothing to count."""
    n = len(locs)
    at_puncta = int(np.sum(call.event))
    control = int(np.sum(call.control_score >= threshold))
    out: dict = {
        "punctum_frames": n,
        "event_punctum_frames": at_puncta,
        "event_fraction_at_puncta": at_puncta / n if n else float("nan"),
        "event_fraction_at_controls": control / n if n else float("nan"),
    }
    if n:
        table = [[at_puncta, n - at_puncta], [control, n - control]]
        _, p = fisher_exact(table, alternative="greater")
        out["enrichment_at_puncta"] = at_puncta / max(control, 1)
        out["fisher_p"] = float(p)
    hot = call.hotspots
    out["hotspots"] = len(hot)
    if len(hot) and n:
        r_px = radius_nm / pixel_size_nm
        near = np.zeros(len(hot), bool)
        for f, group in hot.groupby("frame"):
            here = locs[locs["frame"] == f]
            if len(here):
                d, _ = cKDTree(here[["y", "x"]].to_numpy(float)).query(
                    group[["y", "x"]].to_numpy(float)
                )
                near[group.index.to_numpy()] = d <= r_px
        frames = max(1, int(locs["frame"].nunique()))
        density = n / frames / (frame_shape[0] * frame_shape[1])  # puncta per px^2 per frame
        chance = 1 - np.exp(-density * np.pi * r_px**2)
        out["hotspots_at_puncta_fraction"] = float(near.mean())
        out["hotspots_at_puncta_by_chance"] = float(chance)
        out["hotspot_enrichment"] = float(near.mean() / max(chance, 1e-12))
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in out.items()}


def track_summary(locs: pd.DataFrame, events: pd.DataFrame, pixel_size_nm: float) -> pd.DataFrame:
    """One row per track: extent, position, brightness, precision and calcium events."""
    linked = locs[locs["track_id"] >= 0]
    cols = ["track_id", "localizations", "first_frame", "last_frame", "x_nm", "y_nm",
            "photons", "uncertainty_nm", "event_frames", "events"]  # fmt: skip
    if linked.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    g = linked.groupby("track_id")
    out = pd.DataFrame(
        {
            "localizations": g.size(),
            "first_frame": g["frame"].min(),
            "last_frame": g["frame"].max(),
            "x_nm": (g["x"].mean() + 0.5) * pixel_size_nm,
            "y_nm": (g["y"].mean() + 0.5) * pixel_size_nm,
            "photons": g["photons"].median(),
            "uncertainty_nm": g["uncertainty"].median() * pixel_size_nm,
            "event_frames": g["calcium"].sum().astype(int),
        }
    )
    counts = events.groupby("track_id").size() if len(events) else pd.Series(dtype=int)
    out["events"] = counts.reindex(out.index).fillna(0).astype(int)
    return out.reset_index()[cols]

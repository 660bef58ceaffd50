"""Linking localisations into tracks with gap closing (blinking puncta), by laptrack.

laptrack (Fukai & Kawaguchi 2023) solves the frame-to-frame and the gap-closing linear assignment
problems of Jaqaman et al. 2008 (u-track) with sparse cost matrices: a well-kept implementation,
so napari-catrack does not write its own. Costs are squared distances in nm; the gap-closing
cutoff grows with the square root of the gap, as a diffusing punctum's displacement does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.puncta.params import PunctaParams

TRACK_COLUMNS = ("track_id", "frame", "x_nm", "y_nm")


def link_localizations(locs: pd.DataFrame, params: PunctaParams | None = None) -> pd.Series:
    """A `track_id` per localisation (0, 1, ...; -1 for tracks shorter than `min_track_length`).

    `locs` are internal localisations (pixels, 0-based frames); ids are ordered by each track's
    first frame, then position, so they are stable for a given input.
    """
    params = params or PunctaParams()
    ids = pd.Series(-1, index=locs.index, dtype=int, name="track_id")
    if len(locs) == 0:
        return ids
    from laptrack import LapTrack

    px = params.pixel_size_nm
    df = pd.DataFrame(
        {
            "frame": locs["frame"].to_numpy(int),
            "y_nm": locs["y"].to_numpy(float) * px,
            "x_nm": locs["x"].to_numpy(float) * px,
        }
    )
    d = params.link_distance_nm
    tracker = LapTrack(
        cutoff=d**2,
        gap_closing_cutoff=d**2 * (params.gap_frames + 1) if params.gap_frames > 0 else False,
        gap_closing_max_frame_count=params.gap_frames + 1,
        splitting_cutoff=False,
        merging_cutoff=False,
    )
    # laptrack's graph API (its DataFrame wrapper builds the table row by row: slow)
    frames = df["frame"].to_numpy()
    n_frames = int(frames.max()) + 1
    order = np.argsort(frames, kind="stable")
    starts = np.searchsorted(frames[order], np.arange(n_frames + 1))
    xy = df[["y_nm", "x_nm"]].to_numpy(float)
    coords = [xy[order[starts[f] : starts[f + 1]]] for f in range(n_frames)]
    graph = tracker.predict(coords)
    per_row = np.arange(len(df))  # singletons: each row its own track until linked
    import networkx as nx

    for comp_id, nodes in enumerate(nx.weakly_connected_components(graph)):
        rows = [order[starts[f] + i] for f, i in nodes]
        per_row[rows] = len(df) + comp_id
    sizes = pd.Series(per_row).value_counts()
    long_enough = set(sizes.index[sizes >= params.min_track_length])
    first = (
        pd.DataFrame({"t": per_row, "f": df.frame, "y": df.y_nm, "x": df.x_nm})
        .sort_values(["f", "y", "x"])
        .drop_duplicates("t")
    )
    new_id = {}
    for old in first.t:
        if old in long_enough:
            new_id[old] = len(new_id)
    ids[:] = [new_id.get(t, -1) for t in per_row]
    return ids


def tracks_table(locs: pd.DataFrame, pixel_size_nm: float) -> pd.DataFrame:
    """The CLI's tracks.csv: `track_id,frame,x_nm,y_nm` (frames 0-based, x_nm = (col + 0.5) x
    pixel size like localizations.csv), linked localisations only, sorted by track and frame."""
    linked = locs[locs["track_id"] >= 0]
    return pd.DataFrame(
        {
            "track_id": linked["track_id"].to_numpy(int),
            "frame": linked["frame"].to_numpy(int),
            "x_nm": (linked["x"].to_numpy(float) + 0.5) * pixel_size_nm,
            "y_nm": (linked["y"].to_numpy(float) + 0.5) * pixel_size_nm,
        }
    ).sort_values(["track_id", "frame"], ignore_index=True)

"""The sources files (the CLI contract): footprints.h5, components.csv, traces.csv.

`catrack sources` and `catrack import` both write them; the widget and tests read them back.

- footprints.h5: dataset `footprints`, (K, Y, X) float32, gzip-compressed; row k is the neuron
  of the k-th row of components.csv. Written from sparse footprints in tiles of (1, 128, 128),
  only those a cell covers (the rest reads as 0); read back sparse from the stored tiles
  (`read_sources`); files from before session 14 (one (1, Y, X) chunk per component) read alike;
- components.csv: `neuron_id,y,x,area,snr,r_value,accepted` (+ `reason` when rejected);
- traces.csv: `neuron_id,frame,time_s,raw,denoised,spikes,dff` (long: one row per neuron and frame)
  (+ `red,red_raw,red_bg`: a suite2p import's second channel, F_chan2.npy).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from napari_catrack.core.sources.footprints import Footprints, as_footprints
from napari_catrack.errors import InputError
from napari_catrack.io.atomic import atomic_write_path, atomic_write_set
from napari_catrack.io.h5write import h5_writer
from napari_catrack.io.tables import read_table, write_table

COMPONENT_COLUMNS = ["neuron_id", "y", "x", "area", "snr", "r_value", "accepted"]
TRACE_COLUMNS = ["neuron_id", "frame", "time_s", "raw", "denoised", "spikes", "dff"]
SOURCES_FILES = ("footprints.h5", "components.csv", "traces.csv")
RED_COLUMNS = ["red", "red_raw", "red_bg"]  # traces.csv: an import's red channel (F_chan2)


@dataclass
class SourcesFiles:
    footprints: Footprints  # sparse; np.asarray gives the (K, Y, X) stack
    components: pd.DataFrame
    traces: pd.DataFrame


def write_sources(
    folder: str | os.PathLike,
    footprints,
    components: pd.DataFrame,
    traces: pd.DataFrame,
    attrs: dict | None = None,
) -> list[Path]:
    """Write the three files as one set: they replace an older set together or not at all (row k
    of footprints.h5 belongs to row k of components.csv: a mix of two runs would be wrong)."""
    folder = Path(folder)
    if not isinstance(footprints, Footprints) and np.ndim(footprints) != 3:
        raise InputError(f"footprints are (K, Y, X), not {np.shape(footprints)}")
    fp = as_footprints(footprints)
    if len(fp) != len(components):
        raise InputError(f"{len(fp)} footprints for {len(components)} components")
    missing = [c for c in COMPONENT_COLUMNS if c not in components.columns]
    missing += [c for c in TRACE_COLUMNS if c not in traces.columns]
    if missing:
        raise InputError(f"sources tables lack column(s) {', '.join(missing)}")
    cols = COMPONENT_COLUMNS + [c for c in components.columns if c not in COMPONENT_COLUMNS]
    out = []
    path = folder / "footprints.h5"
    with atomic_write_set():
        with atomic_write_path(path) as tmp:
            with h5_writer(tmp) as f:
                fp.write_h5(f, "footprints", compression="gzip", compression_opts=4)
                for k, v in (attrs or {}).items():
                    f.attrs[k] = v
        out.append(path)
        for name, table, columns in (
            ("components.csv", components, cols),
            ("traces.csv", traces, TRACE_COLUMNS + [c for c in RED_COLUMNS if c in traces]),
        ):
            out.append(write_table(table[columns], folder / name))
    return out


def read_sources(folder: str | os.PathLike) -> SourcesFiles:
    folder = Path(folder)
    for name in SOURCES_FILES:
        if not (folder / name).is_file():
            raise InputError(
                f"{folder} has no {name}: not a sources folder (catrack sources/import)"
            )
    from napari_catrack.core.sources.evaluation import typed_components

    with h5py.File(folder / "footprints.h5", "r") as f:
        fp = _read_sparse(f["footprints"])
    return SourcesFiles(
        fp,
        typed_components(read_table(folder / "components.csv", what="components")),
        read_table(folder / "traces.csv", what="traces"),
    )


def _read_sparse(ds) -> Footprints:
    """A (K, Y, X) footprints dataset read into `Footprints` tile by tile: only the chunks
    stored (a file written since session 14 stores the tiles a cell covers; an older one, one
    (1, Y, X) chunk per component), never the whole stack."""
    k, h, w = ds.shape
    rows: list[list[np.ndarray]] = [[] for _ in range(k)]
    values: list[list[np.ndarray]] = [[] for _ in range(k)]
    try:
        offsets = [ds.id.get_chunk_info(j).chunk_offset for j in range(ds.id.get_num_chunks())]
        ck, ch, cw = ds.chunks
    except (AttributeError, TypeError, ValueError, RuntimeError):  # contiguous (h5py says
        # RuntimeError 'not a chunked dataset': a file another program wrote), no chunk info
        offsets, (ck, ch, cw) = [(i, 0, 0) for i in range(k)], (1, h, w)
    for c0, y0, x0 in offsets:
        tile = ds[c0 : c0 + ck, y0 : y0 + ch, x0 : x0 + cw]
        for j, layer in enumerate(tile):
            y, x = np.nonzero(layer)
            rows[c0 + j].append((y + y0).astype(np.int64) * w + (x + x0))
            values[c0 + j].append(layer[y, x])
    flat = [np.concatenate(r) if r else np.zeros(0, np.int64) for r in rows]
    vals = [np.concatenate(v) if v else np.zeros(0, np.float32) for v in values]
    return Footprints.from_pixels(flat, (h, w), vals)

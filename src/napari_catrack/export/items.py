"""What a session holds that can be exported: one `ExportItem` per table, array, figure, the
session file and the NWB file, placed by the layout (`export.layout`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from napari_catrack.export.figures import available_figures
from napari_catrack.export.layout import (
    ARRAYS,
    INTERNAL_STEPS,
    NWB_FILE,
    SESSION_FILE,
    SOURCES_TRACES_LABEL,
    TABLE_FORMATS,
    TABLES,
    ExportItem,
)

_SKIPPED_ARRAY_PREFIXES = ("painted_",)
# the localisations' columns the puncta calcium table is made of (`calcium_table`)
_CALCIUM_COLUMNS = frozenset(("track_id", "frame", "calcium_probability", "calcium"))
# steps whose results the NWB file holds (io.nwb): with one of them, or a recording to link, the
# NWB file is an item
NWB_STEPS = ("traces", "tracks", "sources", "velocity", "events")


def nwb_has_data(session: Any) -> bool:
    """Whether an NWB file of `session` holds more than its metadata: results of `NWB_STEPS`, or
    the session's recording, whose imaging it links (a puncta-only session: its imaging, as
    `catrack export-nwb` writes it; until h22 the export offered no NWB file for it)."""
    recording = session.recording or {}
    return bool(recording.get("path")) or any(s in session for s in NWB_STEPS)


def _table_item(step: str, name: str) -> ExportItem:
    path, label = TABLES.get((step, name), (f"{step}/{name}", f"{step}: {name}"))
    key = path.replace("/", ":") if (step, name) in TABLES else f"{step}:{name}"
    return ExportItem(key, label, "table", path, TABLE_FORMATS, step, name)


def _array_item(step: str, name: str, shape: tuple, dtype: np.dtype) -> ExportItem | None:
    if name.startswith(_SKIPPED_ARRAY_PREFIXES):
        return None
    spec = ARRAYS.get((step, name)) or ARRAYS.get((step, "*"))
    if spec is not None:
        path, label, fmt = (s.format(name=name) for s in spec)
    elif dtype.kind in "biuf" and len(shape) in (2, 3):
        path, label, fmt = f"{step}/{name}", f"{step}: {name}", "tif"
    else:  # bytes (a stored model) and other arrays: kept in the session file only
        return None
    kind = "h5" if fmt == "h5" else "image"
    return ExportItem(path.replace("/", ":"), label, kind, path, (fmt,), step, name)


def available_items(session: Any) -> list[ExportItem]:
    """Everything `session` holds that can be exported, in the order of an analysis."""
    from napari_catrack.core.sources.session import traces_from_sources
    from napari_catrack.session import array_header

    items: list[ExportItem] = [
        ExportItem(
            "session",
            "Session file (restores everything)",
            "session",
            SESSION_FILE,
            ("catrack.h5",),
        )
    ]
    if "alignment" in session:
        items.append(
            ExportItem(
                "alignment", "Alignment (red → green)", "json", "align.json", ("json",), "alignment"
            )
        )
    for step, rec in session.steps.items():
        if step in INTERNAL_STEPS:
            continue
        for name, table in rec.tables.items():
            if len(table.columns):
                items.append(_table_item(step, name))
                if (step, name) == ("traces", "traces") and traces_from_sources(session):
                    items[-1] = replace(items[-1], label=SOURCES_TRACES_LABEL)
        locs = rec.tables.get("localizations") if step == "puncta" else None
        if locs is not None and _CALCIUM_COLUMNS <= set(locs.columns):
            items.append(_table_item(step, "calcium"))  # `catrack puncta`'s calcium.csv
        names = list(rec.arrays)
        if step == "sources" and "footprint_shape" in rec.arrays:  # sparse parts: one item
            names = [n for n in names if not n.startswith("footprint_")] + ["footprints"]
        for name in names:  # listed from their headers: a lazy session reads none
            if name == "footprints" and name not in rec.arrays:
                item = _array_item(step, name, (0, 0, 0), np.dtype(np.float32))
            else:
                shape, dtype = array_header(rec.arrays, name)
                if 0 in shape:  # nothing to write (no ensemble event: a 0 x 0 similarity)
                    continue
                item = _array_item(step, name, shape, dtype)
            if item is not None:
                items.append(item)
    items.extend(available_figures(session))
    if nwb_has_data(session):
        items.append(
            ExportItem("nwb", "NWB file (Neurodata Without Borders)", "nwb", NWB_FILE, ("nwb",))
        )
    order = {t: i for i, t in enumerate(TABLES)}

    def rank(item: ExportItem) -> tuple:
        kinds = ("session", "json", "table", "image", "h5", "figure", "nwb")
        return (kinds.index(item.kind), order.get((item.step, item.name), len(order)), item.path)

    return sorted(items, key=rank)

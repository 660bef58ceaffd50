"""Write a session's items to a folder in the export layout, each file atomically."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_catrack.errors import Cancelled, CatrackError, InputError
from napari_catrack.export.items import available_items
from napari_catrack.export.layout import ExportItem
from napari_catrack.io.atomic import atomic_write_path

Selection = Mapping[str, str | None] | Iterable[str] | None


@dataclass
class ExportResult:
    """What an export wrote (relative to its folder) and what it could not write, and why."""

    folder: Path
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (item label, reason)

    def summary(self) -> str:
        """The result line: how many files were written where, and how many items were not (each
        with its reason in `failed`, which `catrack export` says on stderr)."""
        text = f"{len(self.written)} file(s) written to {self.folder}"
        if self.failed:
            text += f"; {len(self.failed)} item(s) not written"
        return text


def _chosen(items: list[ExportItem], selection: Selection) -> list[tuple[ExportItem, str | None]]:
    by_key = {i.key: i for i in items}
    if selection is None:
        return [(i, None) for i in items]
    pairs = selection.items() if isinstance(selection, Mapping) else ((k, None) for k in selection)
    out = []
    for key, fmt in pairs:
        if key not in by_key:
            raise InputError(
                f"the session holds no {key!r} to export; it holds: {', '.join(by_key)}"
            )
        out.append((by_key[key], fmt))
    return out


def export_targets(
    session: Any,
    folder: str | os.PathLike,
    selection: Selection = None,
    *,
    table_format: str = "csv",
    figure_format: str = "svg",
) -> list[tuple[ExportItem, str, Path]]:
    """(item, format, file) for each chosen item: what `export_session` writes, before it does.

    An unknown key in `selection` is an `InputError` (nothing is written then)."""
    folder = Path(folder)
    out = []
    for item, fmt in _chosen(available_items(session), selection):
        if fmt is None:
            fmt = {"table": table_format, "figure": figure_format}.get(item.kind)
            if fmt not in item.formats:
                fmt = item.default_format
        out.append((item, fmt, folder / item.relative_path(fmt)))
    return out


def check_export_outputs(
    session: Any,
    folder: str | os.PathLike,
    selection: Selection = None,
    *,
    table_format: str = "csv",
    figure_format: str = "svg",
    label: str = "-o",
    inputs: Mapping[str, Any] | None = None,
) -> None:
    """Refuse, before anything is written, an export that would overwrite one of the session's
    inputs or land in its TIFF-folder recording (`commands._common.check_outputs`): the one
    check of the CLI and the Export widget. `inputs` adds the caller's own (--metadata)."""
    from napari_catrack.io.output_check import OutputFolder, check_outputs, session_inputs

    folder = Path(folder)
    targets = export_targets(
        session, folder, selection, table_format=table_format, figure_format=figure_format
    )
    files = tuple(
        str(target.relative_to(folder))
        for item, _, target in targets
        # the session item saves the session in place when it is already there
        if not (
            item.kind == "session"
            and session.path is not None
            and Path(session.path).resolve() == target.resolve()
        )
    )
    check_outputs(
        {label: OutputFolder(folder, files)}, {**session_inputs(session), **(inputs or {})}
    )


def export_session(
    session: Any,
    folder: str | os.PathLike,
    selection: Selection = None,
    *,
    table_format: str = "csv",
    figure_format: str = "svg",
    nwb_metadata: Mapping[str, Any] | None = None,
    nwb_fps: float | None = None,
    progress: Callable[..., Any] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ExportResult:
    """Write the chosen items (default: everything) of `session` into `folder`.

    `selection` is a list of item keys (each in the default format for its kind:
    `table_format`, `figure_format`) or a mapping key -> format. An item that fails (a figure
    that cannot be drawn, an unwritable file) is reported in `failed`; the others are written.
    `nwb_metadata`, `nwb_fps`: the NWB file's metadata and imaging frame rate (None: the
    session's; `catrack export --fps`), as `io.nwb.write_nwb` takes them; the figures' time
    axes are drawn at the same rate (`build_figure`).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot export into {folder}: it is a file, not a folder")
    chosen = export_targets(
        session, folder, selection, table_format=table_format, figure_format=figure_format
    )
    result = ExportResult(folder)
    for done, (item, fmt, target) in enumerate(chosen):
        if cancel is not None and cancel():
            raise partial_export_cancelled(result, len(chosen))
        if progress is not None:
            progress(done, len(chosen), item.label)
        try:
            _write_item(session, item, fmt, target, nwb_metadata, nwb_fps)
        except CatrackError as exc:
            result.failed.append((item.label, str(exc)))
            continue
        result.written.append(target.relative_to(folder))
    if progress is not None:
        progress(len(chosen), len(chosen), "done")
    return result


def partial_export_cancelled(result: ExportResult, total: int) -> Cancelled:
    """The `Cancelled` raised when an export stops early: it says how many files were written
    before it stopped (those are kept, each complete) and carries them as `.result`."""
    n = len(result.written)
    if n:
        text = (
            f"export cancelled after {n} of {total} file(s) were written; "
            f"{result.folder} may hold a partial export"
        )
    else:
        text = f"export cancelled before any file was written to {result.folder}"
    exc = Cancelled(text)
    exc.result = result
    return exc


def _write_item(session, item: ExportItem, fmt: str, target: Path, nwb_metadata, nwb_fps=None) -> None:  # fmt: skip
    if item.kind == "session":
        if session.path is not None and Path(session.path).resolve() == target.resolve():
            session.save()
        else:
            session.save_copy(target)
    elif item.kind == "json":
        from napari_catrack.io.atomic import write_text_atomic

        write_text_atomic(target, json.dumps(session[item.step].attrs, indent=2, default=float))
    elif item.kind == "table":
        table = _table_for_export(session, item, nwb_fps)
        if (item.step, item.name) == ("puncta", "localizations") and fmt == "csv":
            from napari_catrack.io.thunderstorm import write_thunderstorm

            # the file `catrack puncta` writes (quoted header), with the session's extra columns
            write_thunderstorm(table, target, 0.0, internal=False)
        else:
            write_table_as(table, target, fmt, column_formats=_column_formats(item, table))
    elif item.kind == "image":
        arrays = session[item.step].arrays
        if (item.step, item.name) == ("segmentation", "masks"):
            from napari_catrack.io.masks import write_mask_blocks
            from napari_catrack.session import array_blocks, array_header

            # block by block from the session file when not read yet: never held whole
            shape = array_header(arrays, item.name)[0]
            write_mask_blocks(target, array_blocks(arrays, item.name), shape)
        else:
            _write_tif(np.asarray(arrays[item.name]), target)
    elif (item.kind, item.step, item.name) == ("h5", "sources", "footprints"):
        from napari_catrack.core.sources.session import session_footprints

        _write_footprints_h5(session_footprints(session["sources"]), target)
    elif item.kind == "h5":
        _write_array_h5(np.asarray(session[item.step].arrays[item.name]), target, item.name)
    elif item.kind == "figure":
        from napari_catrack.export.figures import build_figure
        from napari_catrack.figures import save_figure

        # at the NWB file's rate (one rule: a rate only the recording's layer states, --fps)
        save_figure(build_figure(session, item.name, nwb_fps), target)  # the style's size, 300 dpi
    elif item.kind == "nwb":
        from napari_catrack.io.nwb import write_nwb

        write_nwb(session, target, metadata=nwb_metadata, fps=nwb_fps)
    else:  # pragma: no cover - layout and writer are kept together
        raise InputError(f"no writer for {item.kind} items")


def _table_for_export(session, item: ExportItem, fps: float | None = None):
    """The stored table as the step's command writes it: the sources' components with each
    cell's current verdict and its reason (`verdict`, `verdict_reason`), and the transients'
    per-cell table with its `status` and `reason` from the session's current verdicts
    (`transients_cells_with_verdicts`), so each file says what the widgets show; sources'
    traces without the session's `green` copy of `raw`; the puncta localisations in `catrack
    puncta`'s ThunderSTORM names and units (nm, 1-based frames;
    `io.thunderstorm.with_extra_columns`), not the session's pixels; the puncta events with
    `start_s,end_s` and the puncta calcium table (made from the localisations, with `time_s`)
    as `catrack puncta` writes them, their times at the session's frame rate
    (`Session.frame_rate`; empty without one); the posture with `length_um`
    (`posture_from_session`: a table saved before it was recorded)."""
    if (item.step, item.name) == ("sources", "components"):
        from napari_catrack.core.sources.session import components_with_verdicts

        return components_with_verdicts(session)
    if (item.step, item.name) == ("transients", "cells"):
        return transients_cells_with_verdicts(session)
    if (item.step, item.name) == ("centerline", "posture"):
        from napari_catrack.core.behaviour.records import posture_from_session

        table, note = posture_from_session(session)  # length_um also for a pre-h20 table
        if note:
            warnings.warn(note, UserWarning, stacklevel=2)
        return table
    if (item.step, item.name) == ("puncta", "calcium"):  # made from the localisations
        from napari_catrack.core.puncta.pipeline import calcium_table

        return calcium_table(session["puncta"].tables["localizations"], fps or session.frame_rate())
    table = session[item.step].tables[item.name]
    if (item.step, item.name) == ("traces", "traces") and session["traces"].attrs.get("source") == "sources":  # fmt: skip
        # sources' traces as `catrack sources`/`import` write them: the session's `green` is a
        # copy of `raw` for the trace viewer (the NWB export leaves it out too)
        return table.drop(columns=["green"], errors="ignore")
    if (item.step, item.name) == ("puncta", "events"):
        from napari_catrack.core.puncta.pipeline import events_table

        return events_table(table, fps or session.frame_rate())  # start_s, end_s as the command's
    if (item.step, item.name) == ("puncta", "localizations"):
        from napari_catrack.io.thunderstorm import with_extra_columns

        pixel = session[item.step].params.get("pixel_size_nm")
        if not pixel:
            raise InputError("the puncta step holds no pixel size: cannot write nm")
        return with_extra_columns(table, pixel)
    return table


def transients_cells_with_verdicts(session):
    """The stored per-cell table of the transients step with each cell's current verdict
    (`status`, `reason`; `features.apply_verdicts`, the rule `record_transients` stores it
    with): a verdict changed after the transients were recorded (the Sources widget's Accept /
    Reject, an import's, `set_verdict`) is the one written, not the stale stored one. A step
    that holds no verdicts table keeps its cells' stored status."""
    from napari_catrack.core.sources.session import read_verdicts
    from napari_catrack.core.transients.features import apply_verdicts

    rec = session["transients"]
    cells = rec.tables["cells"]
    if "verdicts" not in rec.tables or "neuron_id" not in cells:
        return cells
    return apply_verdicts(cells, read_verdicts(session))


def _column_formats(item: ExportItem, table) -> dict[str, str] | None:
    """The one printf format per float column that the step's command writes the table in, so
    the same data give the same CSV from the command and from an export (None: pandas' own)."""
    if item.step == "puncta":
        from napari_catrack.core.puncta.tables import float_formats

        return float_formats(table)
    from napari_catrack.io.table_formats import float_formats

    return float_formats(item.step, item.name, table)


def write_table_as(table, target: Path, fmt: str, *, column_formats=None) -> Path:
    """A table as CSV, Excel or HDF5 (one dataset per column, as in the session file);
    `column_formats` ({column: printf format}) fixes how a CSV writes those float columns."""
    from napari_catrack.io.tables import write_table

    if fmt in ("csv", "xlsx"):
        return write_table(table, target, column_formats=column_formats)
    from napari_catrack.io.h5write import h5_writer
    from napari_catrack.session import write_h5_table

    with atomic_write_path(target) as tmp:
        with h5_writer(tmp) as f:
            write_h5_table(f.create_group(target.stem), table)
    return target


def _write_tif(array: np.ndarray, target: Path) -> None:
    import tifffile

    with atomic_write_path(target) as tmp:
        # a stack of 3 or 4 images (three sources' footprints) is grey pages, never RGB(A)
        tifffile.imwrite(tmp, array, compression="zlib", photometric="minisblack")


def _write_array_h5(array: np.ndarray, target: Path, name: str) -> None:
    from napari_catrack.io.h5write import h5_writer

    with atomic_write_path(target) as tmp:
        with h5_writer(tmp) as f:
            chunks = (1, *array.shape[1:]) if array.ndim == 3 and len(array) else None
            f.create_dataset(
                name, data=array, compression="gzip", compression_opts=4, chunks=chunks
            )


def _write_footprints_h5(footprints, target: Path) -> None:
    """The sources' footprints as `_write_array_h5` writes a (K, Y, X) array (dataset
    `footprints`, chunks of one component), from sparse footprints one component at a time."""
    from napari_catrack.io.h5write import h5_writer

    with atomic_write_path(target) as tmp:
        with h5_writer(tmp) as f:
            footprints.write_h5(f, "footprints", compression="gzip", compression_opts=4)

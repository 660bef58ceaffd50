"""Writing what a session holds to a folder, in the one documented layout (docs/export.md).

`catrack batch` writes each recording's results with `export_session`, the Export widget writes
the user's selection with it, and the per-widget export buttons call it for their own items, so
every route gives the same files under the same names.
"""

from napari_catrack.export.items import available_items
from napari_catrack.export.layout import FIGURE_FORMATS, TABLE_FORMATS, ExportItem
from napari_catrack.export.write import (
    ExportResult,
    check_export_outputs,
    export_session,
    export_targets,
)

__all__ = [
    "FIGURE_FORMATS",
    "TABLE_FORMATS",
    "ExportItem",
    "ExportResult",
    "available_items",
    "check_export_outputs",
    "export_session",
    "export_targets",
]

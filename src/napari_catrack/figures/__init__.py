"""Publication figures (matplotlib, Qt-free): each function returns a Figure; `save_figure` writes it."""

from __future__ import annotations

import os
from pathlib import Path

# The same figure gives the same bytes on every run (review h10: each SVG carried its save time
# and random clip-path ids, each PDF its creation time), so a re-run can be checked with a diff.
_NO_DATE = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}
HASH_SALT = "napari-catrack"


def save_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Save atomically (temp file + rename); the format follows the extension (.svg, .png, .pdf).

    Reproducible: no save time in the file, and SVG ids from a fixed salt. Publication-ready:
    the style's editable text (SVG <text>, PDF TrueType fonts) and `PNG_DPI` (300) unless the
    caller asks for another dpi; set for this save only, never in the global rcParams."""
    import matplotlib

    from napari_catrack.figures.style import save_rc
    from napari_catrack.io.atomic import atomic_write_path

    path = Path(path)
    fmt = savefig_kwargs.setdefault("format", path.suffix.lstrip(".").lower() or "png")
    if fmt in _NO_DATE:
        savefig_kwargs["metadata"] = {**_NO_DATE[fmt], **(savefig_kwargs.get("metadata") or {})}
    with (
        atomic_write_path(path) as tmp,
        matplotlib.rc_context({**save_rc(fig), "svg.hashsalt": HASH_SALT}),
    ):
        fig.savefig(tmp, **savefig_kwargs)
    return path

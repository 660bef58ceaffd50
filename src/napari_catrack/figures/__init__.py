"""Publication figures (matplotlib, Qt-free): each function returns a Figure; `save_figure` writes it."""

from __future__ import annotations

import os
from pathlib import Path


def save_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Save atomically (temp file + rename); the format follows the extension (.svg, .png, .pdf)."""
    from napari_catrack.io.atomic import atomic_write_path

    path = Path(path)
    savefig_kwargs.setdefault("format", path.suffix.lstrip(".").lower() or "png")
    with atomic_write_path(path) as tmp:
        fig.savefig(tmp, **savefig_kwargs)
    return path

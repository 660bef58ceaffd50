"""Shared fixtures: where the real public data lives, and tiny recordings written on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path inside ../shared/data, or skip the test with a clear message when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found: {path} (expected ../shared/data beside the repository)")
    return path


@pytest.fixture
def two_channel_tiff(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A small TCYX ImageJ TIFF with distinct known green and red content."""
    from napari_catrack.io.tiff import write_movie_tiff

    rng = np.random.default_rng(0)
    green = rng.integers(0, 1000, size=(6, 16, 20), dtype=np.uint16)
    red = rng.integers(1000, 2000, size=(6, 16, 20), dtype=np.uint16)
    path = write_movie_tiff(tmp_path / "two.tif", green, red, fps=5.0, pixel_size_um=0.5)
    return path, green, red


def pytest_collection_modifyitems(config, items):
    """Tests under tests/gui are `gui`, everything else is `core` (select with -m)."""
    for item in items:
        marker = "gui" if "tests/gui/" in str(item.fspath).replace("\\", "/") else "core"
        item.add_marker(getattr(pytest.mark, marker))

"""Shared fixtures: where the real public data lives, and tiny recordings written on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _one_torch_thread() -> None:
    """One intra-op and one inter-op torch thread: on a busy 2-core machine torch's default
    (a thread per core, spinning) made the suite stall for tens of minutes. Skipped when torch is
    absent; torch is imported here only if it is installed (it is a dependency)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already started: keep what is there
        pass


_one_torch_thread()
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the same for CLI runs in subprocesses
if os.environ.get("CATRACK_START_METHOD"):  # "spawn": the default start method of macOS/Windows
    import multiprocessing

    multiprocessing.set_start_method(os.environ["CATRACK_START_METHOD"], force=True)


def shared_data(*parts: str) -> Path:
    """Path inside ../shared/data, or skip the test with a clear message when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found: {path} (expected ../shared/data beside the repository)")
    return path


def _shared_files() -> set[Path]:
    return {p for p in SHARED_DATA.rglob("*") if p.is_file()} if SHARED_DATA.is_dir() else set()


@pytest.fixture(scope="session", autouse=True)
def shared_data_stays_as_given():
    """No test may write into ../shared/data (read-only public data; the folder is read-only but
    root, as CI may run, can still write): a GUI test that opened SIMA's movie left an
    autosaved `example-N.catrack.h5` beside it on every run. Checked once, after the last test."""
    before = _shared_files()
    yield
    added = sorted(str(p) for p in _shared_files() - before)
    if added:
        pytest.fail(f"tests wrote into ../shared/data: {', '.join(added[:5])}", pytrace=False)


@pytest.fixture
def two_channel_tiff(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A small TCYX ImageJ TIFF with distinct known green and red content."""
    from napari_catrack.io.tiff import write_movie_tiff

    rng = np.random.default_rng(0)
    green = rng.integers(0, 1000, size=(6, 16, 20), dtype=np.uint16)
    red = rng.integers(1000, 2000, size=(6, 16, 20), dtype=np.uint16)
    path = write_movie_tiff(tmp_path / "two.tif", green, red, fps=5.0, pixel_size_um=0.5)
    return path, green, red


def pytest_configure(config):
    """Generated samples are cached in a folder of this test session, not the user's cache."""
    import os
    import tempfile

    os.environ.setdefault("NAPARI_CATRACK_CACHE", tempfile.mkdtemp(prefix="catrack-cache-"))


def pytest_collection_modifyitems(config, items):
    """Tests under tests/gui are `gui`, everything else is `core` (select with -m)."""
    for item in items:
        marker = "gui" if "tests/gui/" in str(item.fspath).replace("\\", "/") else "core"
        item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """`catrack demo` at 80 frames (seed 2), run once per test run: 21 neurons traced, 12 with
    transients, 4 ensemble events. Read it; copy what a test writes into."""
    from napari_catrack.demo import run_demo

    out = tmp_path_factory.mktemp("small_demo")
    run_demo(out, n_frames=80, seed=2, log=lambda *a: None)
    return out

"""`python -m napari_catrack` runs the `catrack` command (the console script may not be on PATH:
a venv not activated, a notebook's kernel, Windows' Scripts folder)."""

from __future__ import annotations

import subprocess
import sys


def test_python_m_napari_catrack_is_the_catrack_command():
    # before: "No module named napari_catrack.__main__; 'napari_catrack' is a package and cannot
    # be directly executed" (the h19 walk tried it first)
    run = subprocess.run([sys.executable, "-m", "napari_catrack", "info", "--help"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: catrack info")
    bad = subprocess.run([sys.executable, "-m", "napari_catrack", "info", "/no/such/file.tif"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.startswith("catrack: error:"), bad.stderr

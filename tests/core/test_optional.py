"""A lean install without the optional groups: the core keeps working, and each feature whose
package is missing says in one line which package (and extra) to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

from napari_catrack.optional import MissingDependency, require

BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Block())
"""


def _run(code: str, blocked: tuple[str, ...]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK.format(blocked=blocked) + code],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_require_names_the_extra():
    assert require("json", "x").dumps
    with pytest.raises(MissingDependency, match=r"pip install no_such_pkg .*napari-catrack\[all\]"):
        require("no_such_pkg", "a feature")


@pytest.mark.slow
def test_core_works_without_torch_sam_nwb_batch_and_video(tmp_path, two_channel_tiff):
    path = two_channel_tiff[0]
    code = f"""
import numpy as np, pandas as pd
from napari_catrack.cli import build_parser, main
build_parser()
from napari_catrack.io.recording import open_recording
from napari_catrack.core.tracking.in_green import track_in_green
from napari_catrack.core.transients import detect_transients
from napari_catrack.errors import InputError
rec = open_recording({str(path)!r})
t = track_in_green(rec, pd.DataFrame({{"neuron_id": ["a"], "y": [8.0], "x": [10.0]}}), 0, None)
assert len(t) == rec.n_frames
assert len(detect_transients(np.random.default_rng(0).random((2, 300)), 10.0, method="rules")) >= 0
messages = []
for call in (lambda: detect_transients(np.zeros((1, 300)), 10.0, method="model"),
             lambda: __import__("napari_catrack.io.nwb", fromlist=["x"]).build_nwbfile(__import__("napari_catrack.session", fromlist=["x"]).Session()),
             lambda: __import__("napari_catrack.io.video", fromlist=["x"]).VideoReader({str(path)!r})):
    try:
        call()
    except InputError as exc:
        messages.append(str(exc))
print("\\n".join(messages))
assert main(["batch", "m.yaml", "-o", "o"]) == 2
"""
    result = _run(code, ("torch", "torchvision", "segment_anything", "pynwb", "distributed", "av"))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines == [
        "a learned transient detector needs torch, which is not installed: pip install torch (the napari-catrack[learned] extra)",
        "NWB export needs pynwb, which is not installed: pip install pynwb (the napari-catrack[nwb] extra)",
        "reading behaviour videos needs av, which is not installed: pip install av (the napari-catrack[video] extra)",
    ]

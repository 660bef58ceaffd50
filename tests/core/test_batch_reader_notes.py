"""`catrack batch` and the commands that read frames (register, summary, sources) show the
reader's warnings on a recording (h22): a frame folder mixing kinds, as `catrack info`, the
loader and the steps that open the recording through `StepContext.recording` always did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from napari_catrack.cli import main


def _mixed_folder(folder: Path, n: int = 8) -> None:
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        tifffile.imwrite(folder / f"f{i:02d}.tif", rng.integers(0, 1000, (32, 32), np.uint16))
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(folder / "preview.png")


SAID = "only the 8 TIFF files are read as frames; left out: 1 file(s) (preview.png)"


def test_reader_warnings_reach_the_batch_report_for_steps_that_read_frames(tmp_path):
    """`catrack batch` put the reader's warnings (a frame folder mixing kinds) in the report
    row of the step that opened the recording through `StepContext.recording` only: register
    and summary read frames through `StepContext.frames`, and the warning was lost. Now the
    first step that reads the recording has it, once. Fails on the old code."""
    _mixed_folder(tmp_path / "movie")
    (tmp_path / "m.yaml").write_text(
        f"recordings:\n  - {{path: {tmp_path / 'movie'}, name: rec, fps: 10, "
        "steps: [register, summary]}\n"
    )
    assert main(["batch", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out")]) == 0
    report = pd.read_csv(tmp_path / "out" / "report.csv")
    rows = report[report["message"].astype(str).str.contains(SAID, regex=False)]
    assert rows["step"].tolist() == ["register"], report.to_dict("records")


def test_commands_that_read_frames_print_the_readers_warnings(tmp_path, capsys):
    """`catrack summary FOLDER` (frames read through `frames_from_args`) never printed the
    warning `catrack info` and `catrack track` print for a folder mixing kinds. Fails on the
    old code."""
    _mixed_folder(tmp_path / "movie")
    assert main(["summary", str(tmp_path / "movie"), "-o", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert "catrack summary: warning:" in err and SAID in err, err

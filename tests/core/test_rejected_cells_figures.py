"""`catrack transients --figures` leaves the rejected cells out (h19) and says so, as the
exported figures do ("1 rejected cell left out"); with every cell rejected it says that in one
line, not as matplotlib's "Attempting to set identical low and high ylims" (h20 review)."""

from __future__ import annotations

import pandas as pd

from napari_catrack.cli import main
from napari_catrack.core.sources.session import set_verdict
from napari_catrack.session import Session

from .test_rejected_cells import IDS, _session_with_verdicts


def _labels(monkeypatch) -> list:
    import napari_catrack.figures.style as style

    seen = []
    real = style.label_recording
    monkeypatch.setattr(style, "label_recording", lambda fig, text: seen.append(text) or real(fig, text))  # fmt: skip
    return seen


def test_the_commands_figures_say_the_rejected_cells_they_leave_out(tmp_path, monkeypatch):
    # old code: labelled "traces.csv" alone, the rejected cell 5 missing without a word
    seen = _labels(monkeypatch)
    src, path = _session_with_verdicts(tmp_path)
    argv = ["transients", str(src), "--method", "rules", "-o", str(tmp_path / "t.csv"),
            "--session", str(path), "--figures", str(tmp_path / "figs")]  # fmt: skip
    assert main(argv) == 0
    assert seen == ["traces.csv; 1 rejected cell left out"] * 4


def test_every_cell_rejected_is_said_in_one_line(tmp_path, monkeypatch, capsys):
    # old code: matplotlib's "identical low and high ylims" warning, and no word of the verdicts
    seen = _labels(monkeypatch)
    src, path = _session_with_verdicts(tmp_path)
    session = Session.load(path)
    for i in IDS:
        set_verdict(session, i, "rejected", "")
    session.save()
    argv = ["transients", str(src), "--method", "rules", "-o", str(tmp_path / "t.csv"),
            "--session", str(path), "--figures", str(tmp_path / "figs")]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "ylim" not in err
    assert "catrack transients: warning: every cell is rejected (4 by the verdicts): the figures draw no cell" in err  # fmt: skip
    assert seen == ["traces.csv; 4 rejected cells left out"] * 4
    assert len(pd.read_csv(tmp_path / "t.csv"))  # detection still ran on every cell

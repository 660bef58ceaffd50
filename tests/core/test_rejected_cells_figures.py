"""`catrack transients --figures` leaves the rejected cells out (h19) and says so, as the
exported figures do ("1 rejected cell left out"); with every cell rejected it says that in one
line, not as matplotlib's "Attempting to set identical low and high ylims"; `catrack ensembles
--session` leaves them out also where the session holds only verdicts (h20 review)."""

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


def test_ensembles_of_a_session_holding_only_verdicts_leave_its_rejected_cells_out(tmp_path, capsys):  # fmt: skip
    """A session whose transients step holds only verdicts (the Sources evaluation's, the
    curation's: an empty transients table beside them) cannot tell whose transients a table
    holds, as a session without that step cannot: taken as its own. It was taken as another
    analysis's (no transient of the table is among its none), so `catrack ensembles
    --session` counted the rejected cell 5 and its transients, and not the session's neurons
    (h20 review; old code: "of 4 neurons (only those with transients ...)")."""
    src, path = _session_with_verdicts(tmp_path)
    out = tmp_path / "t.csv"
    assert main(["transients", str(src), "--method", "rules", "-o", str(out)]) == 0  # no session
    assert not len(Session.load(path)["transients"].tables["transients"])  # verdicts only
    capsys.readouterr()
    argv = ["ensembles", str(out), "--seed", "1", "--no-figures", "--fps", "50", "-o",
            str(tmp_path / "e"), "--session", str(path)]  # fmt: skip
    assert main(argv) == 0
    line = capsys.readouterr().out
    assert "of 3 neurons (traced in --session, 1 rejected cell(s) left out" in line

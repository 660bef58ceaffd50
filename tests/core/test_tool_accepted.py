"""`tool_accepted` (an imported tool's own verdict, kept when its cells are re-judged or
fitted) is a nullable boolean: True / False / empty for a cell the tool never judged (h20).
After "Fit drawn/edited cells" on an import it was stored and written as 1.0 / 0.0 / NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.sources.evaluation import judge
from napari_catrack.core.sources.session import components_with_verdicts, sources_from_session
from napari_catrack.export import export_session
from napari_catrack.io.suite2p import read_suite2p
from napari_catrack.io.tables import read_table
from napari_catrack.session import Session

from .test_suite2p_followups import _draw_a_cell
from .test_suite2p_volume import real_planes


def _fitted(tmp_path) -> Session:
    from napari_catrack.core.sources.session import record_sources

    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_sources(session, read_suite2p(real_planes(tmp_path / "s2p", n=1)), origin="suite2p")
    _draw_a_cell(session, reshape=3, tool="suite2p")  # drawn cell 99, cell 3 reshaped
    return session


def test_tool_accepted_is_a_nullable_boolean_in_the_session_and_the_csv(tmp_path):
    session = _fitted(tmp_path)
    iscell = read_suite2p(tmp_path / "s2p").components.set_index("neuron_id")["accepted"]

    def check(col: pd.Series, ids) -> None:
        assert isinstance(col.dtype, pd.BooleanDtype), col.dtype
        got = dict(zip(ids, col, strict=True))
        assert got[99] is pd.NA and got[3] is pd.NA  # drawn, reshaped: the tool never judged
        others = [i for i in got if i not in (3, 99)]
        assert [bool(got[i]) for i in others] == [bool(iscell[i]) for i in others]
        assert {bool(got[i]) for i in others} == {True, False}

    comps = session["sources"].tables["components"]
    check(comps["tool_accepted"], comps["neuron_id"].tolist())
    session.save()
    again = Session.load(tmp_path / "s.catrack.h5")  # through the session file
    comps = again["sources"].tables["components"]
    check(comps["tool_accepted"], comps["neuron_id"].tolist())
    export_session(again, tmp_path / "o", ["sources:components"])  # components.csv
    path = tmp_path / "o" / "sources" / "components.csv"
    words = pd.read_csv(path, dtype=str, keep_default_na=False)["tool_accepted"]
    assert set(words) == {"True", "False", ""}  # not 1.0 / 0.0
    from napari_catrack.core.sources.evaluation import typed_components  # as read_sources reads

    table = typed_components(read_table(path))  # read back: booleans again
    check(table["tool_accepted"], table["neuron_id"].tolist())


def test_a_session_that_stored_floats_reads_as_booleans(tmp_path):
    """A session saved before h20 holds 1.0 / 0.0 / NaN: read, judged and exported as booleans."""
    session = _fitted(tmp_path)
    comps = session["sources"].tables["components"]
    was = comps["tool_accepted"]
    comps["tool_accepted"] = [np.nan if v is pd.NA else float(v) for v in was]  # as h19 stored
    for table in (sources_from_session(session).components, components_with_verdicts(session)):
        assert isinstance(table["tool_accepted"].dtype, pd.BooleanDtype)
        assert table["tool_accepted"].fillna(False).tolist() == was.fillna(False).tolist()
        assert table["tool_accepted"].isna().tolist() == was.isna().tolist()
    out = judge(comps, tool="suite2p")
    assert isinstance(out["tool_accepted"].dtype, pd.BooleanDtype)
    own = was.notna().to_numpy()
    assert (out["accepted"].to_numpy(bool)[own] == was[own].to_numpy(bool)).all()
    assert (out["judged_by"][~own] == "thresholds").all()


def test_tool_accepted_reads_every_form_it_was_stored_in():
    from napari_catrack.core.sources.evaluation import tool_accepted

    col = tool_accepted(
        pd.Series([1.0, 0.0, np.nan, True, "False", "", "true", None], dtype=object)
    )
    assert col.tolist()[:2] == [True, False] and col.isna().tolist() == [False, False, True, False, False, True, False, True]  # fmt: skip
    assert col[[3, 4, 6]].tolist() == [True, False, True]


def test_no_components_are_judged_with_a_boolean_accepted_column():
    """A movie where nothing was found: `accepted` is still a bool column (it was float64, so
    a later concat with found cells gave 1.0/0.0 verdicts)."""
    from napari_catrack.core.sources.evaluation import evaluate

    empty = pd.DataFrame({"neuron_id": [], "snr": [], "r_value": [], "area": []})
    judged = evaluate(empty)
    assert judged["accepted"].dtype == bool and len(judged) == 0
    assert judge(empty)["accepted"].dtype == bool

"""Imported sources (suite2p, CaImAn, Minian) in the evaluation and the session: a missing measure
is not judged, the tool's verdicts stay unless re-judged on request, and cells of another movie
(image size) are refused, of another length said (two-photon review 8, TP 2, TP 5)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.core.sources import EvaluationParams
from napari_catrack.core.sources.evaluation import evaluate, judge, rejudged, untested
from napari_catrack.core.sources.imported import imported_result
from napari_catrack.core.sources.session import check_against_movie
from napari_catrack.errors import InputError


def _suite2p(k=5, t=200, shape=(40, 32), seed=0):
    rng = np.random.default_rng(seed)
    fp = np.zeros((k, *shape), np.float32)
    for i in range(k):
        fp[i, 1 + 7 * i : 7 + 7 * i, 3:9] = 1.0  # 36 px
    raw = 100 + rng.normal(0, 1, (k, t))
    raw[:, 50:60] += np.linspace(2, 40, k)[:, None]  # SNRs from low to high
    iscell = np.array([1, 0, 1, 0, 1], bool)[:k]
    return imported_result("suite2p", fp, raw, fps=15.0, accepted=iscell)  # no r-value: NaN


def test_a_missing_r_value_is_not_tested_and_said_so():
    comps = _suite2p().components
    assert comps["r_value"].isna().all()
    out = evaluate(comps, EvaluationParams(min_snr=0.0, min_r=0.5))
    assert out["accepted"].all(), out["reason"].tolist()  # was: "r-value nan < 0.5" for all
    assert not out["reason"].str.contains("r-value").any()
    assert untested(out) == "r-value not measured for 5 of 5 components (not tested)"
    # a measured r-value is still judged
    comps.loc[0, "r_value"] = 0.1
    out = evaluate(comps, EvaluationParams(min_snr=0.0, min_r=0.5))
    assert out["accepted"].tolist() == [False, True, True, True, True]
    assert out.loc[0, "reason"] == "r-value 0.10 < 0.5"


def test_the_tools_verdicts_stay_unless_re_judged_and_come_back():
    comps = _suite2p().components
    tool = comps["accepted"].tolist()
    strict = EvaluationParams(min_snr=1000.0)
    kept = judge(comps, strict, tool="suite2p")
    assert kept["accepted"].tolist() == tool and not rejudged(kept)
    assert kept.loc[1, "reason"] == "rejected by suite2p"
    again = judge(kept, strict, tool="suite2p", rejudge_imported=True)
    assert not again["accepted"].any() and rejudged(again)
    assert set(again["judged_by"]) == {"thresholds"}
    back = judge(again, strict, tool="suite2p")  # un-ticked: the tool's verdicts again
    assert back["accepted"].tolist() == tool and not rejudged(back)
    assert back.loc[1, "reason"] == "rejected by suite2p"
    # extracted components are simply evaluated
    assert not judge(comps, strict)["accepted"].any()


def test_imports_of_another_movie_are_refused_or_said():
    result = _suite2p(t=300)
    assert check_against_movie(result, 300, (40, 32)) == []
    assert check_against_movie(result, None, None) == []  # nothing known: nothing to check
    with pytest.raises(InputError, match="40x32 px .* but the session.s movie is 32x40 px"):
        check_against_movie(result, 300, (32, 40), what="the suite2p import")
    (said,) = check_against_movie(result, 200, (40, 32), what="the suite2p import")
    assert said.startswith("the suite2p import's traces have 300 frames but the session's movie has 200")  # fmt: skip


def test_imports_take_the_dff_baseline_window_from_the_sources_params(tmp_path):
    """An import's dF/F baseline window is `SourcesParams.baseline_window_s` (the one place for
    defaults; before h21 dff.py's own 30 s), or the one given, and its provenance says which."""
    from napari_catrack.core.sources.dff import dff_and_kind
    from napari_catrack.core.sources.params import SourcesParams
    from napari_catrack.core.sources.session import record_sources
    from napari_catrack.session import Session

    rng = np.random.default_rng(1)
    fp = np.zeros((2, 20, 20), np.float32)
    fp[0, 2:6, 2:6] = fp[1, 10:14, 10:14] = 1.0
    raw = 100 + 20 * np.sin(np.arange(600) / 40.0)[None] + rng.normal(0, 1, (2, 600))
    made = imported_result("caiman", fp, raw, fps=10.0)
    window = SourcesParams().baseline_window_s
    assert made.made_with == {"baseline_window_s": window}
    short = imported_result("caiman", fp, raw, fps=10.0, baseline_window_s=3.0)
    assert np.allclose(short.dff, dff_and_kind(raw, None, 10.0, 3.0)[0], equal_nan=True)
    assert not np.allclose(short.dff, made.dff, equal_nan=True)  # the window matters here
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_sources(session, short, origin="caiman")
    assert session["sources"].params["import"]["baseline_window_s"] == 3.0

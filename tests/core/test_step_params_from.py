"""One step again with a tuned session's parameters: `catrack STEP ... --params-from SESSION`
(the one-recording form of `catrack batch --params-from`; docs/batch.md)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from napari_catrack.cli import main
from napari_catrack.core.transients.params import TransientParams
from napari_catrack.session import Session

from .test_transients import ONSETS, make_trace
from .test_transients_cli import long_table

K = TransientParams().k + 0.75  # not the default, whatever the default is
SPLIT_K = TransientParams().split_k + 1.0


@pytest.fixture
def traces_csv(tmp_path):
    traces = np.stack([make_trace(ONSETS, dur=30.0), make_trace([12.0], dur=30.0, seed=4)])
    path = tmp_path / "traces.csv"
    long_table(traces, [3, 5]).to_csv(path, index=False)
    return path


@pytest.fixture
def tuned(tmp_path):
    """A session whose transients step ran k-sigma with a non-default k and split_k."""
    path = tmp_path / "tuned.catrack.h5"
    session = Session(path, autosave=False)
    params = TransientParams(method="ksigma", k=K, split_k=SPLIT_K).to_dict()
    session.record("transients", params={**params, "fps": 10.0})
    session.save()
    return path


def _run(capsys, *args) -> tuple[int, str]:
    code = main(["transients", *map(str, args)])
    return code, capsys.readouterr().err


def _recorded(path) -> dict:
    return Session.read_provenance(path)["steps"]["transients"]


def test_params_from_session_are_used_and_recorded(tmp_path, traces_csv, tuned, capsys):
    out = tmp_path / "new.catrack.h5"
    code, err = _run(capsys, traces_csv, "--fps", 10, "-o", tmp_path / "t.csv",
                     "--params-from", tuned, "--session", out)  # fmt: skip
    assert code == 0
    step = _recorded(out)
    assert step["params"]["method"] == "ksigma"
    assert step["params"]["k"] == pytest.approx(K)
    assert step["params"]["split_k"] == pytest.approx(SPLIT_K)
    assert f"parameters from {tuned.name}: transients:" in err
    # the session the values came from is among the step's inputs, with its SHA-256
    source = step["inputs"]["params_from"]
    assert source["sha256"] == hashlib.sha256(tuned.read_bytes()).hexdigest()


def test_command_line_wins_over_the_session(tmp_path, traces_csv, tuned, capsys):
    out = tmp_path / "new.catrack.h5"
    code, err = _run(capsys, traces_csv, "--fps", 10, "-o", tmp_path / "t.csv", "--k", 1.5,
                     "--params-from", tuned, "--session", out)  # fmt: skip
    assert code == 0
    params = _recorded(out)["params"]
    assert params["k"] == pytest.approx(1.5)  # given here
    assert params["split_k"] == pytest.approx(SPLIT_K)  # from the session
    assert params["method"] == "ksigma"
    assert f"this command line's k over {tuned.name}'s" in err


def test_same_result_as_giving_the_options(tmp_path, traces_csv, tuned, capsys):
    """The session's values detect exactly what the same options on the command line do."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert _run(capsys, traces_csv, "--fps", 10, "-o", a, "--params-from", tuned)[0] == 0
    assert _run(capsys, traces_csv, "--fps", 10, "-o", b, "--method", "ksigma", "--k", K,
                "--split-k", SPLIT_K)[0] == 0  # fmt: skip
    assert a.read_text() == b.read_text()
    default = tmp_path / "d.csv"
    assert _run(capsys, traces_csv, "--fps", 10, "-o", default, "--method", "ksigma")[0] == 0
    assert default.read_text() != a.read_text()  # the values changed something


def test_session_without_the_step_keeps_the_defaults(tmp_path, traces_csv, capsys):
    other = tmp_path / "other.catrack.h5"
    session = Session(other, autosave=False)
    session.record("neurons", params={})
    session.save()
    out = tmp_path / "new.catrack.h5"
    code, err = _run(capsys, traces_csv, "--fps", 10, "-o", tmp_path / "t.csv",
                     "--params-from", other, "--session", out)  # fmt: skip
    assert code == 0
    assert "has no transients step: transients keeps its defaults" in err
    assert _recorded(out)["params"]["k"] == pytest.approx(TransientParams().k)


def test_not_a_session_is_one_line_and_nothing_written(tmp_path, traces_csv, capsys):
    bogus = tmp_path / "bogus.h5"
    bogus.write_bytes(b"not hdf5")
    table = tmp_path / "t.csv"
    code, err = _run(capsys, traces_csv, "--fps", 10, "-o", table, "--params-from", bogus)
    assert code != 0
    assert "not a napari-catrack session" in err
    assert "Traceback" not in err
    assert not table.exists()


@pytest.mark.parametrize(
    "command",
    ["align", "detect", "track", "traces", "transients", "ensembles", "register", "summary",
     "sources"],
)  # fmt: skip
def test_every_tunable_step_takes_params_from(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--params-from SESSION" in capsys.readouterr().out


def test_sources_takes_extraction_and_evaluation_values(tmp_path, capsys):
    """`sources` records its evaluation thresholds one level down: both are taken."""
    import tifffile

    from napari_catrack.core.sources import EvaluationParams, SourcesParams
    from napari_catrack.synthetic import make_two_photon_movie

    movie = make_two_photon_movie(60, (48, 48), n_cells=3, seed=2, motion_px=0)
    rec = tmp_path / "m.tif"
    tifffile.imwrite(rec, movie.movie)
    tuned = tmp_path / "tuned.catrack.h5"
    session = Session(tuned, autosave=False)
    made = SourcesParams(patch_px=0, max_per_patch=SourcesParams().max_per_patch + 1)
    evaluation = EvaluationParams(min_snr=EvaluationParams().min_snr + 1.5)
    session.record(
        "sources", params={"sources": made.to_dict(), "evaluation": evaluation.to_dict()}
    )
    session.save()
    out = tmp_path / "new.catrack.h5"
    code = main(["sources", str(rec), "--fps", "30", "-o", str(tmp_path / "s"), "--params-from",
                 str(tuned), "--session", str(out), "--min-area-px", "5"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    params = Session.read_provenance(out)["steps"]["sources"]["params"]
    assert params["sources"]["max_per_patch"] == made.max_per_patch
    assert params["sources"]["patch_px"] == 0
    assert params["evaluation"]["min_snr"] == pytest.approx(evaluation.min_snr)
    assert params["evaluation"]["min_area_px"] == 5  # given here
    assert f"parameters from {tuned.name}: sources: " in err and "min_snr=4.5" in err

"""The batch `sources` step takes the component-evaluation thresholds (a manifest's
`params: {sources: {min_snr: ...}}`, `catrack batch --params-from SESSION`) and its report says
what the user should know about the run (a NaN border left out, the patch size of a small frame).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_catrack.batch.manifest import read_manifest
from napari_catrack.batch.recording import run_recording
from napari_catrack.session import Session
from napari_catrack.synthetic import make_two_photon_movie
from tests.core._twophoton_helpers import six_cell_movie


@pytest.fixture(scope="module")
def cells():
    return six_cell_movie()


def _run(tmp_path, name: str, sources: str, movie: np.ndarray, steps: str = "sources"):
    """One recording through the batch with `sources` as the step's manifest values."""
    rec = tmp_path / f"{name}.tif"
    if not rec.exists():
        tifffile.imwrite(rec, movie)
    manifest = tmp_path / f"{name}.yaml"
    params = f", params: {{sources: {{{sources}}}}}" if "sources" in steps else ""
    manifest.write_text(
        f"defaults: {{steps: [{steps}], fps: 30{params}}}\nrecordings:\n  - {{path: {rec.name}}}\n"
    )
    spec = read_manifest(manifest).recordings[0]
    rows = run_recording(spec, tmp_path / "out")
    assert all(r["status"] in ("done", "up to date") for r in rows), rows
    session = Session.load(tmp_path / "out" / spec.name / "session.catrack.h5")
    return spec, rows, session


def test_a_manifests_stricter_threshold_rejects_more_components(tmp_path, cells):
    """Ground truth: the synthetic movie's cells. With the defaults every component found sits on
    a true cell and is accepted; `min-snr: 20` (the option's spelling) rejects the dimmer ones
    among the same components, and the session records the threshold used."""
    movie = cells.movie.astype(np.float32)
    _, _, default = _run(tmp_path, "a", "patch_px: 0", movie)
    comps = default["sources"].tables["components"]
    truth = cells.truth.centres
    for y, x in comps[["y", "x"]].to_numpy():
        assert np.hypot(*(truth - [y, x]).T).min() < 1.5  # each at a true cell
    assert comps["accepted"].all() and len(comps) >= 4
    assert (comps["snr"] < 20).any() and (comps["snr"] >= 20).any()  # the threshold splits them
    _, rows, strict = _run(tmp_path, "a", "patch_px: 0, min-snr: 20", movie)
    judged = strict["sources"].tables["components"]
    np.testing.assert_allclose(judged[["y", "x"]], comps[["y", "x"]])  # the same components
    assert (~judged["accepted"]).sum() > (~comps["accepted"]).sum()
    assert (~judged["accepted"]).sum() == (comps["snr"] < 20).sum()
    assert strict["sources"].params["evaluation"]["min_snr"] == 20
    assert default["sources"].params["evaluation"]["min_snr"] == 3.0  # the default
    assert rows[0]["status"] == "done"  # a changed threshold re-runs the step
    verdicts = strict["transients"].tables["verdicts"]  # the evaluation's automatic verdicts
    assert set(verdicts["neuron_id"]) == set(
        judged.loc[~judged["accepted"], "neuron_id"].astype(str)
    )


def test_an_unknown_threshold_name_is_refused_in_one_line(tmp_path):
    from napari_catrack.errors import InputError

    (tmp_path / "m.tif").write_bytes(b"")
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: [sources], fps: 30, params: {sources: {min_snrr: 20}}}\n"
        "recordings:\n  - {path: m.tif}\n"
    )
    with pytest.raises(InputError) as err:
        read_manifest(tmp_path / "m.yaml")
    text = str(err.value)
    assert "\n" not in text and "sources parameters: unknown" in text and "min_snrr" in text
    assert "min_snr" in text.split("known:")[1]  # the list of names says the right one


def test_default_thresholds_keep_the_step_key_of_a_finished_batch():
    """The key hashes the extraction values as before, the thresholds only when changed: a batch
    finished before the thresholds could be given stays up to date."""
    from napari_catrack.batch.steps import SourcesStepParams
    from napari_catrack.core.sources.params import SourcesParams

    assert SourcesStepParams().key_dict() == SourcesParams().to_dict()
    assert SourcesStepParams(min_r=0.7).key_dict() == {
        **SourcesParams().to_dict(),
        "evaluation": {"min_r": 0.7},
    }


def test_batch_params_from_takes_the_sessions_thresholds(tmp_path):
    """`catrack batch --params-from SESSION`: the evaluation thresholds travel with the
    extraction values, the manifest's own winning."""
    from napari_catrack.batch.from_session import read_session_params
    from napari_catrack.core.sources.params import EvaluationParams, SourcesParams

    tuned = Session(tmp_path / "tuned.catrack.h5", autosave=False)
    made = SourcesParams(patch_px=0).to_dict()
    judged = EvaluationParams(min_snr=6.0, min_area_px=12).to_dict()
    tuned.record("sources", params={"sources": made, "evaluation": judged})
    tuned.save()
    found = read_session_params(tuned.path, ["sources"])
    assert found.values == {"sources": {"patch_px": 0, "min_snr": 6.0, "min_area_px": 12}}
    (tmp_path / "m.tif").write_bytes(b"")
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: [sources], fps: 30, params: {sources: {min_area_px: 20}}}\n"
        "recordings:\n  - {path: m.tif}\n"
    )
    spec = read_manifest(tmp_path / "m.yaml", session=found).recordings[0]
    p = spec.step_params("sources")
    assert (p.patch_px, p.min_snr, p.min_area_px) == (0, 6.0, 20)
    assert spec.params_from["steps"]["sources"] == {"patch_px": 0, "min_snr": 6.0}
    assert spec.params_from["overridden"]["sources"] == {"min_area_px": (12, 20)}


def test_the_report_and_session_say_the_nan_border_left_out(tmp_path, cells):
    """A movie with a NaN border (another tool's motion correction): the batch's `summary` and
    `sources` rows say the region used, as `catrack summary`/`sources` warn; the sources step
    keeps the note in the session (attrs `notes`), which `catrack info` shows."""
    bordered = cells.movie.astype(np.float32)
    bordered[:, :, :4] = np.nan
    bordered[1::3, -3:] = np.nan
    region = "used rows 0-60 and columns 4-63 of the 64x64 frame"
    spec, rows, session = _run(tmp_path, "b", "patch_px: 0", bordered, steps="summary, sources")
    by_step = {r["step"]: r["message"] for r in rows}
    assert f"summary images {region}" in by_step["summary"]
    assert by_step["sources"].split(";")[0].endswith("accepted")  # the summary, then the note
    assert f"source extraction {region}" in by_step["sources"]
    notes = session["sources"].attrs["notes"]
    assert len(notes) == 1 and f"source extraction {region}" in notes[0]
    path = session.path
    session.close()
    shown = Session.read_provenance(path)["steps"]
    assert shown["sources"]["notes"] == notes
    assert f"summary images {region}" in shown["summary"]["notes"][0]
    again = run_recording(spec, tmp_path / "out")  # resumed: the rows keep what was said
    assert [r["status"] for r in again[:2]] == ["up to date", "up to date"]
    assert region in again[1]["message"]


def test_the_report_says_the_patch_size_register_used_on_a_small_frame(tmp_path):
    movie = make_two_photon_movie(30, (64, 64), n_cells=3, seed=2, motion_px=1).movie
    _, rows, session = _run(tmp_path, "c", "", movie.astype(np.uint16), steps="register")
    message = rows[0]["message"]
    assert message.startswith("residual motion")
    assert "the default 96 px patches do not fit the 64x64 frame: 32 px patches" in message
    assert session["registration"].attrs["patch_px_used"] == 32


def test_thresholds_tuned_on_imported_cells_are_taken_too():
    """A session whose cells were imported (suite2p, CaImAn, ImageJ) and re-judged with tuned
    thresholds: `--params-from` takes the thresholds (there are no extraction values to take)."""
    from napari_catrack.batch.steps import recorded_params

    recorded = {"import": {"tool": "suite2p"}, "evaluation": {"min_snr": 7.5, "min_r": 0.9}}
    changed, unknown = recorded_params("sources", recorded)
    assert changed["min_snr"] == 7.5 and changed["min_r"] == 0.9
    assert not unknown

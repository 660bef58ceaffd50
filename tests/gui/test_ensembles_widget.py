"""Ensembles widget in a real napari.Viewer: find planted ensembles, colour the neurons, step
through an ensemble's events on the time slider."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.synthetic.rasters import planted_ensembles
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui


@pytest.fixture
def planted():
    return planted_ensembles(
        n_neurons=60, n_frames=2000, n_ensembles=2, ensemble_size=10, n_activations=12, seed=6
    )


def test_find_colour_and_step(make_napari_viewer, qtbot, planted, tmp_path):
    from napari_catrack.widgets.ensembles import GREY, EnsemblesWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((planted.n_frames, 8, 8), dtype=np.uint8), name="movie")
    pos = planted.positions
    coords = np.c_[np.zeros(len(pos)), pos[["y", "x"]].to_numpy()]
    viewer.add_points(coords, features={"neuron_id": pos["neuron_id"].to_numpy()}, name="neurons")
    csv = tmp_path / "transients.csv"
    planted.events.to_csv(csv, index=False)

    widget = EnsemblesWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.points.currentText() == "neurons"
    widget.path.setText(str(csv))
    widget.shuffles.setValue(200)
    widget.fps.setValue(planted.fps)
    job = widget.find()
    wait_job(qtbot, job, timeout=30000)
    assert widget.result is not None and widget.find_button.isEnabled()

    result = widget.result
    assert result.n_ensembles == 2
    assert widget.ensembles.count() == 2
    layer = viewer.layers["neurons"]
    ens = layer.features["ensemble"].to_numpy()
    for e in range(2):  # the strongest membership of each planted member is one found ensemble
        planted_rows = np.isin(layer.features["neuron_id"], planted.members[e])
        found = ens[planted_rows]
        assert (found >= 0).mean() >= 0.8
        assert len(set(found[found >= 0])) == 1
    assert (ens[~np.isin(layer.features["neuron_id"], np.concatenate(planted.members))] == -1).all()

    # ensemble 0 is selected after the run: its members coloured, everyone else grey
    members0 = set(result.members.loc[result.members["ensemble_id"] == 0, "neuron_id"])
    is_member = layer.features["neuron_id"].isin(members0).to_numpy()
    np.testing.assert_allclose(layer.face_color[~is_member], np.tile(GREY, ((~is_member).sum(), 1)))
    assert not np.allclose(layer.face_color[is_member], GREY)

    frames = result.events.loc[result.events["ensemble_id"] == 0, "start_frame"].to_numpy()
    assert viewer.dims.current_step[0] == frames[0]
    assert widget.step_event(1) == frames[1]
    assert viewer.dims.current_step[0] == frames[1]
    widget.next_button.click()
    assert viewer.dims.current_step[0] == frames[2]
    widget.prev_button.click()
    assert viewer.dims.current_step[0] == frames[1]
    assert job is widget.job


def test_bad_table_reports_error(make_napari_viewer, qtbot, tmp_path):
    from napari_catrack.widgets import ensembles as mod

    viewer = make_napari_viewer()
    widget = mod.EnsemblesWidget(viewer)
    widget.fps.setValue(10.0)
    bad = tmp_path / "bad.csv"
    bad.write_text("cell,onset\n1,2\n")
    widget.path.setText(str(bad))
    wait_job(qtbot, widget.find(), timeout=10000)
    assert "neuron_id" in widget.status.text()  # one line naming the missing column
    assert widget.result is None


def test_result_is_saved_in_the_session(make_napari_viewer, qtbot, planted):
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets.ensembles import EnsemblesWidget

    viewer = make_napari_viewer()
    widget = EnsemblesWidget(viewer)
    widget.set_table(planted.events)
    widget.fps.setValue(planted.fps)
    widget.shuffles.setValue(200)
    wait_job(qtbot, widget.find(), timeout=30000)
    step = session_for_viewer(viewer)["ensembles"]
    assert len(step.tables["events"]) == len(widget.result.events) > 0
    assert set(step.tables["members"].columns) >= {"ensemble_id", "neuron_id"}
    assert step.params["n_shuffles"] == 200


def test_restored_from_a_cli_session_and_only_neuron_layers(make_napari_viewer, monkeypatch):
    """Review 8 finding 14: a session written by the CLI / demo (threshold in the step's params)
    was restored as "coactivity > None", and the neurons box picked the behaviour widget's
    "worm head" Points layer (then warned it has no neuron_id)."""
    import napari.utils.notifications as notifications
    import pandas as pd

    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets.ensembles import EnsemblesWidget

    warned = []
    monkeypatch.setattr(notifications, "show_warning", warned.append)
    monkeypatch.setattr("napari_catrack.widgets.ensembles.show_warning", warned.append)
    viewer = make_napari_viewer()
    viewer.add_points(np.zeros((3, 3)), name="worm head")  # behaviour: no neuron_id feature
    events = pd.DataFrame({"event_id": [0, 1], "start_frame": [5, 40], "end_frame": [7, 42],
                           "n_active": [4, 5], "ensemble_id": [0, 0]})  # fmt: skip
    members = pd.DataFrame({"ensemble_id": [0, 0], "neuron_id": ["a", "b"], "fraction": 1.0})
    session_for_viewer(viewer).record(  # as `catrack ensembles` / `catrack demo` store it
        "ensembles", tables={"events": events, "members": members},
        params={"fps": 10.0, "n_shuffles": 500, "threshold": 3},
    )  # fmt: skip
    widget = EnsemblesWidget(viewer)
    assert widget.status.text() == "2 ensemble events (coactivity > 3), 1 ensemble"
    assert widget.points.count() == 0 and not warned  # "worm head" is not offered
    viewer.add_points(np.zeros((2, 3)), features={"neuron_id": ["a", "b"]}, name="neurons")
    assert [widget.points.itemText(i) for i in range(widget.points.count())] == ["neurons"]


def test_result_writes_the_features_once(make_napari_viewer, qtbot, planted, tmp_path):
    """Showing a result sets the points' features once (each write rebuilds every point's
    label: on a 48,000-point tracked-neurons layer that was most of a 1.9 s stall), and
    browsing to another ensemble only recolours; the colours are those of the selected one."""
    from napari_catrack.widgets.ensembles import GREY, EnsemblesWidget

    viewer = make_napari_viewer()
    pos = planted.positions
    coords = np.c_[np.zeros(len(pos)), pos[["y", "x"]].to_numpy()]
    layer = viewer.add_points(
        coords, features={"neuron_id": pos["neuron_id"].to_numpy()}, name="neurons"
    )
    writes = []
    layer.events.features.connect(lambda e: writes.append(1))
    csv = tmp_path / "transients.csv"
    planted.events.to_csv(csv, index=False)
    widget = EnsemblesWidget(viewer)
    widget.path.setText(str(csv))
    widget.shuffles.setValue(100)
    widget.fps.setValue(planted.fps)
    wait_job(qtbot, widget.find(), timeout=30000)
    assert widget.result.n_ensembles == 2
    assert len(writes) == 1
    widget.ensembles.setCurrentRow(1)
    assert len(writes) == 1
    members1 = set(widget.result.members.query("ensemble_id == 1")["neuron_id"].astype(str))
    on = layer.features["neuron_id"].astype(str).isin(members1).to_numpy()
    np.testing.assert_allclose(layer.face_color[~on], np.tile(GREY, ((~on).sum(), 1)))
    assert not np.allclose(layer.face_color[on], GREY)


@pytest.mark.slow
def test_the_widget_counts_every_neuron_traced_as_the_demo_does(
    make_napari_viewer, qtbot, small_demo, tmp_path
):
    """The session's transients list only the neurons with transients; the widget counted those
    (n_neurons 12 of the 21 the demo traced and records). Now it counts every neuron traced
    (the cell table), with the traces' length, and finds the demo's events from its seed."""
    import shutil

    import pandas as pd

    from napari_catrack.core.ensembles.params import EnsembleParams
    from napari_catrack.session import Session, attach_session
    from napari_catrack.widgets.ensembles import EnsemblesWidget

    copy = tmp_path / "demo.catrack.h5"
    shutil.copy(small_demo / "demo.catrack.h5", copy)
    session = Session.load(copy)
    demo = session["ensembles"]
    n_traced = len(session["transients"].tables["cells"])
    assert session["transients"].tables["transients"]["neuron_id"].nunique() < n_traced
    viewer = make_napari_viewer()
    attach_session(viewer, session)
    widget = EnsemblesWidget(viewer)
    widget.form.set_params(EnsembleParams(seed=int(demo.params["seed_used"])))
    widget.fps.setValue(float(demo.params["fps"]))
    job = widget.find()
    wait_job(qtbot, job, timeout=60000)
    got = session["ensembles"]
    assert got is not demo
    assert got.params["n_neurons"] == demo.params["n_neurons"] == n_traced
    assert got.params["n_frames"] == demo.params["n_frames"]
    # the session's traces tell where a neuron was not measured (h16): the same mask as the demo
    traces = session["traces"].tables["traces"]
    lost = int((traces["missing"].astype(bool) | traces["dff"].isna()).sum())
    assert got.params.get("observation") == demo.params.get("observation")
    assert got.params.get("observation", {}).get("unobserved_neuron_frames", 0) == lost
    assert widget.status.text().endswith("(unknown, not silent)") == (lost > 0)
    cols = ["start_frame", "end_frame", "n_active", "ensemble_id"]
    pd.testing.assert_frame_equal(
        got.tables["events"][cols].reset_index(drop=True),
        demo.tables["events"][cols].reset_index(drop=True),
        check_dtype=False,
    )

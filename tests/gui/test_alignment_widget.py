"""Alignment widget in a real napari.Viewer: estimate, nudge with the keyboard, overlay, accept,
and JSON load/save; the red layer's affine is what the user sees, so that is what we check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from napari_catrack.core.alignment import AlignmentTransform
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui

SHAPE = (96, 112)


def _scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros(SHAPE, np.float32)
    img[rng.integers(15, 81, 40), rng.integers(15, 97, 40)] = rng.uniform(0.5, 1.5, 40)
    return ndimage.gaussian_filter(img, 1.8) * 20


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    from napari_catrack.widgets.alignment import AlignmentWidget

    viewer = make_napari_viewer()
    scene = _scene()
    truth = AlignmentTransform(2.4, -3.1, 1.5)
    m = truth.matrix(SHAPE)
    red = ndimage.affine_transform(scene, m[:2, :2], offset=m[:2, 2], order=3)
    green_stack = np.stack([scene * (1 + 0.1 * i) for i in range(4)])
    red_stack = np.stack([red * 3 + 50] * 4)
    viewer.add_image(green_stack, name="rec green", metadata={"catrack": {"role": "green"}})
    viewer.add_image(red_stack, name="rec red", metadata={"catrack": {"role": "red"}})
    widget = AlignmentWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return viewer, widget, truth


def _press(viewer, key: str) -> None:
    """Press through napari's real key handling (the keymap the canvas dispatches to).

    Private napari API on purpose: napari has no public way to deliver a key press to its
    canvas, and what is tested is exactly napari's dispatch (which binding wins, none after
    Accept), which calling `viewer.keymap[key]` directly would bypass."""
    handler = viewer.window._qt_viewer.canvas._key_map_handler
    assert handler.press_key(key), f"{key} is not bound"
    handler.release_key(key)


def _shown(viewer) -> AlignmentTransform:
    """The transform the red layer's affine displays."""
    return AlignmentTransform.from_matrix(viewer.layers["rec red"].affine.affine_matrix, SHAPE)


def test_layers_are_found_and_estimate_sets_the_red_affine(viewer_and_widget, qtbot):
    viewer, widget, truth = viewer_and_widget
    assert widget.green_combo.currentText() == "rec green"
    assert widget.red_combo.currentText() == "rec red"
    wait_job(qtbot, widget.estimate(), timeout=30000)
    assert widget.base is not None and widget.estimate_button.isEnabled()
    est = widget.transform
    assert est.source == "estimated"
    assert abs(est.dy - truth.dy) < 0.1 and abs(est.dx - truth.dx) < 0.1
    assert abs(est.rotation_deg - truth.rotation_deg) < 0.1
    np.testing.assert_allclose(
        viewer.layers["rec red"].affine.affine_matrix, est.napari_affine(SHAPE, ndim=3), atol=1e-9
    )
    assert widget.progress.value() == 100
    # red drawn with that affine lands on green: a red blob's world position = its green position
    assert widget.dy.value() == pytest.approx(est.dy, abs=1e-3)


def test_an_estimate_that_matched_nothing_says_so(viewer_and_widget, qtbot):
    """Red replaced by an unrelated image: the estimate still comes, with a warning instead of
    the usual 'estimated (NCC ...)' (review 7: NCC 0.056 was accepted without a word)."""
    viewer, widget, _ = viewer_and_widget
    assert "WARNING" not in widget.status.text()
    rng = np.random.default_rng(1)
    viewer.layers["rec red"].data = np.stack([_scene(7)[::-1, ::-1] * 3 + 50] * 4) + rng.normal(
        0, 5, (4, *SHAPE)
    )
    wait_job(qtbot, widget.estimate(), timeout=30000)
    text = widget.status.text()
    assert text.startswith("WARNING: the alignment scores NCC") and "layer boxes" in text, text


def test_cancelled_estimate_leaves_the_red_layer_alone(viewer_and_widget, qtbot):
    viewer, widget, _ = viewer_and_widget
    before = viewer.layers["rec red"].affine.affine_matrix.copy()
    job = widget.estimate()
    assert widget.cancel_button.isEnabled()
    widget.cancel_estimate()
    wait_job(qtbot, job, timeout=30000)
    assert widget.base is None and widget.estimate_button.isEnabled()
    np.testing.assert_array_equal(viewer.layers["rec red"].affine.affine_matrix, before)
    assert "cancelled" in widget.status.text()
    assert not widget.cancel_button.isEnabled()


def test_keyboard_nudges_move_and_rotate_the_red_layer(viewer_and_widget):
    viewer, widget, _ = viewer_and_widget
    assert not widget.keys_active()  # nothing is bound until the user asks for it
    assert widget.activate_keys()
    widget.step.setValue(0.5)
    widget.angle_step.setValue(0.2)
    _press(viewer, "W")  # up: dy -0.5
    _press(viewer, "D")  # right: dx +0.5
    _press(viewer, "D")
    shown = _shown(viewer)
    assert shown.dy == pytest.approx(-0.5) and shown.dx == pytest.approx(1.0)
    _press(viewer, "Shift-S")  # down ×10
    _press(viewer, "A")
    assert _shown(viewer).dy == pytest.approx(4.5) and _shown(viewer).dx == pytest.approx(0.5)
    _press(viewer, "Q")  # counter-clockwise = positive
    _press(viewer, "Q")
    _press(viewer, "E")
    shown = _shown(viewer)
    assert shown.rotation_deg == pytest.approx(0.2)
    assert widget.rotation.value() == pytest.approx(0.2)
    assert widget.transform.source == "manual"
    # CCW on screen: a red point right of the centre is displayed slightly ABOVE it
    c = (np.array(SHAPE) - 1) / 2
    world = viewer.layers["rec red"].data_to_world([0, c[0], c[1] + 40])
    centre_world = viewer.layers["rec red"].data_to_world([0, c[0], c[1]])
    assert world[1] < centre_world[1]
    _press(viewer, "R")  # no estimate yet: back to identity
    np.testing.assert_allclose(viewer.layers["rec red"].affine.affine_matrix, np.eye(4), atol=1e-12)
    widget.deactivate_keys()
    handler = viewer.window._qt_viewer.canvas._key_map_handler
    assert not handler.press_key("W")


def test_readout_edit_overlay_accept_and_json(viewer_and_widget, tmp_path):
    from napari_catrack.session import session_for_viewer

    viewer, widget, _ = viewer_and_widget
    widget.dx.setValue(2.25)  # typing a value applies it
    assert _shown(viewer).dx == pytest.approx(2.25)

    widget.overlay_check.setChecked(True)
    assert viewer.layers["rec green"].colormap.name == "green"
    assert viewer.layers["rec red"].colormap.name == "magenta"
    assert viewer.layers["rec red"].blending == "additive"
    widget.overlay_check.setChecked(False)
    assert viewer.layers["rec red"].colormap.name == "gray"

    accepted = widget.accept()
    record = session_for_viewer(viewer)["alignment"]
    assert record.attrs["dx"] == pytest.approx(2.25) and record.attrs["source"] == "manual"
    assert record.params["red_layer"] == "rec red"
    assert accepted.dx == pytest.approx(2.25)

    path = widget.save_json(str(tmp_path / "align.json"))
    assert json.loads(path.read_text())["dx"] == pytest.approx(2.25)
    (tmp_path / "other.json").write_text(json.dumps({"dy": 1.0, "dx": -1.0, "rotation_deg": 0.5}))
    loaded = widget.load_json(str(tmp_path / "other.json"))
    assert loaded.source == "file"
    assert _shown(viewer).rotation_deg == pytest.approx(0.5)
    assert widget.load_json(str(tmp_path / "missing.json")) is None  # error shown, nothing changes
    assert _shown(viewer).rotation_deg == pytest.approx(0.5)


def test_scaled_layers_still_put_red_pixels_on_their_green_pixels(make_napari_viewer):
    from napari_catrack.widgets.alignment import AlignmentWidget

    viewer = make_napari_viewer()
    scale = (1.0, 0.45, 0.45)  # (T, Y, X): pixel size from the reader
    viewer.add_image(np.zeros((2, *SHAPE), np.float32), name="g", scale=scale)
    viewer.add_image(np.zeros((2, *SHAPE), np.float32), name="r", scale=scale)
    widget = AlignmentWidget(viewer)
    widget.channels.choose("green", "g")  # layers of another reader: the user gives them roles
    widget.channels.choose("red", "r")
    t = AlignmentTransform(1.5, -2.0, 2.0)
    widget.set_transform(t)
    red_px = np.array([30.0, 80.0])
    green_px = t.map_points(red_px, SHAPE)
    red_world = viewer.layers["r"].data_to_world([0, *red_px])
    green_world = viewer.layers["g"].data_to_world([0, *green_px])
    np.testing.assert_allclose(red_world, green_world, atol=1e-9)
    back = widget.read_layer_transform()
    assert back.dy == pytest.approx(1.5) and back.rotation_deg == pytest.approx(2.0)


def test_nudge_keys_bound_only_while_ticked_and_accept_frees_them(make_napari_viewer, qtbot):
    """Issue 11: the nudge keys stayed bound after Accept and moved red while curating."""
    from qtpy.QtCore import Qt

    from napari_catrack.widgets.alignment import AlignmentWidget

    viewer = make_napari_viewer(show=True)
    for name, role in (("g green", "green"), ("r red", "red")):
        viewer.add_image(np.zeros((2, *SHAPE), np.float32), name=name,
                         metadata={"catrack": {"role": role}})  # fmt: skip
    widget = AlignmentWidget(viewer)
    dock = viewer.window.add_dock_widget(widget)
    qtbot.waitUntil(widget.isVisible, timeout=5000)
    handler = viewer.window._qt_viewer.canvas._key_map_handler
    assert not widget.keys_check.isChecked() and not handler.press_key("D")  # off when shown
    widget.keys_check.setChecked(True)  # the user turns nudging on
    canvas = viewer.window._qt_viewer.canvas.native
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key_D)  # a real key event through Qt and napari's canvas
    qtbot.keyClick(canvas, Qt.Key_Q)
    assert widget.transform.dx == pytest.approx(0.5)
    assert widget.transform.rotation_deg == pytest.approx(0.1)
    widget.accept()  # Accept turns nudging off: A/D/R are free for curation
    assert not widget.keys_check.isChecked() and not handler.press_key("D")
    qtbot.keyClick(canvas, Qt.Key_A)
    assert widget.transform.dx == pytest.approx(0.5)  # did not move
    widget.keys_check.setChecked(True)
    viewer.window.remove_dock_widget(dock)  # a closed dock gives its keys back too
    qtbot.waitUntil(lambda: not widget.keys_check.isChecked(), timeout=5000)
    assert not handler.press_key("D")


def test_full_affine_estimate_is_shown_kept_by_nudges_and_accepted(make_napari_viewer, qtbot):
    """Two cameras with different optics: the 'full affine' estimate puts red on green where a
    rotation cannot, the readout says so, a nudge keeps the affine part, Accept stores it, and a
    red layer whose affine part differs from the accepted one is flagged."""
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets._context import ViewerContext
    from napari_catrack.widgets.alignment import AlignmentWidget

    viewer = make_napari_viewer()
    scene = _scene(3)
    truth = AlignmentTransform(1.2, -0.8, 0.5, 1.0, aspect=0.97, shear=0.03)
    m = truth.matrix(SHAPE)
    red = ndimage.affine_transform(scene, m[:2, :2], offset=m[:2, 2], order=3)
    viewer.add_image(
        np.stack([scene] * 3), name="rec green", metadata={"catrack": {"role": "green"}}
    )
    viewer.add_image(np.stack([red] * 3), name="rec red", metadata={"catrack": {"role": "red"}})
    widget = AlignmentWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.form.control("estimate_affine").setChecked(True)
    wait_job(qtbot, widget.estimate(), timeout=30000)
    est = widget.transform
    assert est.is_affine and abs(est.aspect - 0.97) < 0.005 and abs(est.shear - 0.03) < 0.005
    assert "aspect 0.97" in widget.scale_label.text()
    shown = _shown(viewer)
    assert shown.aspect == pytest.approx(est.aspect) and shown.shear == pytest.approx(est.shear)
    widget.dx.setValue(est.dx + 0.5)  # a nudge moves; the affine part stays
    assert _shown(viewer).shear == pytest.approx(est.shear)
    widget.accept()
    record = session_for_viewer(viewer)["alignment"]
    assert record.attrs["aspect"] == pytest.approx(est.aspect)
    assert "aspect" in ViewerContext.of(viewer).alignment().description
    # napari's own tools change only the shear: the layer now differs from what was accepted
    changed = widget.transform.replace(shear=0.0).napari_affine(SHAPE, ndim=3)
    viewer.layers["rec red"].affine = changed
    assert ViewerContext.of(viewer).alignment().differs_from_layer


def test_load_a_calibration_matrix_from_another_tool(viewer_and_widget, qtbot, tmp_path):
    """Load… with an OpenCV 2x3 green-to-red matrix: its reading is found on the recording in a
    job, shown on the red layer and named in the status; a mirroring matrix is refused."""
    viewer, widget, truth = viewer_and_widget
    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=float)
    opencv = (swap @ truth.inverse_matrix(SHAPE) @ swap)[:2]
    path = tmp_path / "calib.csv"
    np.savetxt(path, opencv, delimiter=",")
    wait_job(qtbot, widget.load_file(str(path)), timeout=30000)
    assert "read as xy, green-to-red" in widget.status.text()
    shown = _shown(viewer)
    assert abs(shown.dy - truth.dy) < 1e-6 and abs(shown.rotation_deg - truth.rotation_deg) < 1e-6
    assert widget.transform.source == "file" and widget.load_button.isEnabled()
    # Accept records the matrix file among the step's inputs (with its SHA-256), as
    # catrack align --from-matrix --session does
    from napari_catrack.session import session_for_viewer

    widget.accept()
    record = session_for_viewer(viewer)["alignment"]
    assert record.attrs["inputs"]["matrix"]["path"] == str(path)
    assert len(record.attrs["inputs"]["matrix"]["sha256"]) == 64
    assert record.params["file"] == str(path)
    (tmp_path / "mirror.txt").write_text("-1 0 0\n0 1 0\n")
    assert widget.load_file(str(tmp_path / "mirror.txt")) is None
    assert "mirrors the image" in widget.status.text()
    assert abs(_shown(viewer).dy - truth.dy) < 1e-6  # the red layer keeps what it showed
    # another rig's matrix: a poor match, said in the status as on the command line
    np.savetxt(tmp_path / "other_rig.csv", [[1, 0, 9.0], [0, 1, 7.0]], delimiter=",")
    wait_job(qtbot, widget.load_file(str(tmp_path / "other_rig.csv")), timeout=30000)
    assert "WARNING" in widget.status.text() and "below 0.3" in widget.status.text()


def test_ticking_full_affine_ticks_and_holds_the_scale_box(viewer_and_widget):
    """A full affine fits the scale too: the box says so (ticked, greyed) and is given back."""
    _, widget, _ = viewer_and_widget
    assert not widget.scale_check.isChecked()
    widget.affine_check.setChecked(True)
    assert widget.scale_check.isChecked() and not widget.scale_check.isEnabled()
    assert widget.params().estimate_affine and widget.params().estimate_scale
    widget.affine_check.setChecked(False)
    assert not widget.scale_check.isChecked() and widget.scale_check.isEnabled()

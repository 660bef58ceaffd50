"""The Batch widget builds the manifest from the open recordings and the session's parameters,
runs it on a local cluster in the background and shows the report."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
import tifffile
import yaml

from napari_catrack.session import session_for_viewer
from napari_catrack.synthetic.batch import write_batch_folder

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"


@pytest.mark.slow
def batch_widget_with_recordings(make_napari_viewer, tmp_path, n: int):
    """The Batch widget docked with `n` small synthetic recordings (and their seeds) listed
    and an output folder set."""
    write_batch_folder(tmp_path, n, n_frames=8, shape=(32, 32), n_neurons=2)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch")
    for i in range(n):
        widget._add(str(tmp_path / f"rec0{i}.tif"), seeds=str(tmp_path / f"seeds0{i}.csv"))
    widget.output.setText(str(tmp_path / "out"))
    return widget


def test_batch_widget_runs_the_open_recording(make_napari_viewer, qtbot, tmp_path):
    from napari_catrack.core.transients.params import TransientParams

    write_batch_folder(tmp_path, 2, n_frames=30, shape=(64, 64), n_neurons=3)
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "rec00.tif"), plugin=PLUGIN)
    session_for_viewer(viewer).record(
        "transients", params=TransientParams(snr_threshold=4.0).to_dict(), save=False
    )
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch")
    assert widget.table.rowCount() == 1  # the open recording, once (green and red layers)
    widget._add(str(tmp_path / "rec01.tif"), seeds=str(tmp_path / "seeds01.csv"))
    widget.table.item(0, 2).setText(str(tmp_path / "seeds00.csv"))
    for name, box in widget.step_boxes.items():
        box.setChecked(name in ("track", "traces", "transients"))
    manifest = widget.manifest_dict()
    assert manifest["defaults"]["params"] == {"transients": {"snr_threshold": 4.0}}
    assert "fps" not in manifest["defaults"] and manifest["recordings"][0]["fps"] == 10.0
    widget.workers.setValue(1)
    widget.output.setText(str(tmp_path / "out"))
    job = widget.run()
    qtbot.waitUntil(job.finished.is_set, timeout=300000)
    assert job.outcome == "done", job.outcome
    assert yaml.safe_load((tmp_path / "out" / "manifest.yaml").read_text())["recordings"][1][
        "path"
    ].endswith("rec01.tif")
    report = pd.read_csv(tmp_path / "out" / "report.csv")
    assert (report.status == "done").all() and widget.report.rowCount() == len(report)
    assert (tmp_path / "out" / "rec01" / "transients.csv").is_file()


def test_batch_widget_checks_before_writing_anything(make_napari_viewer, tmp_path):
    """GUI review 2, items 1-2: the recordings' folder is refused (the user's own manifest.yaml
    and report.csv there stay), a bad manifest writes no folder, a file is not a folder."""
    write_batch_folder(tmp_path, 1, n_frames=8, shape=(32, 32), n_neurons=2)
    mine = (tmp_path / "manifest.yaml").read_text()
    (tmp_path / "report.csv").write_text("my own report\n")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch")
    widget._add(str(tmp_path / "rec00.tif"), seeds=str(tmp_path / "seeds00.csv"))
    widget.output.setText(str(tmp_path))
    assert widget.run() is None
    assert "write the batch results to a folder of their own" in widget.status.text()
    assert (tmp_path / "manifest.yaml").read_text() == mine
    assert (tmp_path / "report.csv").read_text() == "my own report\n"

    widget.table.item(0, 2).setText(str(tmp_path / "nope.csv"))
    widget.output.setText(str(tmp_path / "bout_bad"))
    assert widget.run() is None
    assert "seeds file not found" in widget.status.text()
    assert not (tmp_path / "bout_bad").exists()

    widget.output.setText(str(tmp_path / "rec00.tif"))
    assert widget.run() is None
    assert "is a file, not a folder" in widget.status.text()

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.yaml").write_text("# my own hand-written manifest\n")
    widget.table.item(0, 2).setText(str(tmp_path / "seeds00.csv"))
    widget.output.setText(str(tmp_path / "other"))
    assert widget.run() is None
    assert "not a manifest this widget wrote" in widget.status.text()
    assert (tmp_path / "other" / "manifest.yaml").read_text() == "# my own hand-written manifest\n"


def test_batch_widget_says_what_failed_and_shows_which_recording_is_which(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """User review (h9): the recordings' column showed "/tmp/pytest-..." for every row (cut on
    the right) and after Run the reason of a failure sat off-screen in the report's last column;
    the status line only counted failures. Now the file names show, and the status names each
    failed step with its reason (as `catrack batch` prints it); failed rows are marked."""
    from qtpy.QtCore import Qt

    import napari_catrack.batch.runner as runner
    from napari_catrack.batch.recording import run_recording

    def in_process(manifest, output, **_):  # the real steps, without starting a dask cluster
        rows = [row for spec in manifest.recordings for row in run_recording(spec, output)]
        return runner.BatchResult(output=Path(output), report=pd.DataFrame(rows))

    monkeypatch.setattr(runner, "run_batch", in_process)
    write_batch_folder(tmp_path, 2, n_frames=20, shape=(48, 48), n_neurons=2)
    (tmp_path / "bad.csv").write_text("neuron_id,y,xx\nn00,10,10\n")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch")
    widget._add(str(tmp_path / "rec00.tif"), seeds=str(tmp_path / "seeds00.csv"))
    widget._add(str(tmp_path / "rec01.tif"), seeds=str(tmp_path / "bad.csv"))
    assert widget.table.textElideMode() == Qt.ElideLeft and not widget.table.wordWrap()
    assert widget.table.item(1, 1).toolTip() == str(tmp_path / "rec01.tif")
    for name, box in widget.step_boxes.items():
        box.setChecked(name == "track")
    widget.output.setText(str(tmp_path / "out"))
    qtbot.mouseClick(widget.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: widget.job is not None and widget.job.finished.is_set(), timeout=60000)
    qtbot.waitUntil(lambda: widget.report.rowCount() == 4, timeout=10000)
    status = widget.status.text()
    assert "1 recording with failures" in status
    assert "rec01: track failed: seeds" in status and "lacks column(s) x" in status
    row = next(r for r in range(4) if widget.report.item(r, 2).text() == "failed")
    assert "lacks column(s) x" in widget.report.item(row, 0).toolTip()
    assert widget.report.item(row, 0).background().color().red() == 200


def test_a_workers_warning_does_not_send_the_progress_bar_back_to_zero(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """User review (h9): each warning line a worker logged was reported as progress 0 of N, so
    the bar fell back to 0 % in the middle of a batch."""
    import threading

    from qtpy.QtCore import Qt

    import napari_catrack.batch.runner as runner

    release = threading.Event()

    def slow(manifest, output, *, log, progress, **_):
        progress(1, 2, "rec00")
        log("catrack batch: rec01: traces: warning: something to check")
        release.wait(30)
        progress(2, 2, "rec01")
        report = pd.DataFrame(
            [[n, "track", "done", 0.1, "ok"] for n in ("rec00", "rec01")],
            columns=["recording", "step", "status", "seconds", "message"],
        )
        return runner.BatchResult(output=Path(output), report=report)

    monkeypatch.setattr(runner, "run_batch", slow)
    widget = batch_widget_with_recordings(make_napari_viewer, tmp_path, 2)
    qtbot.mouseClick(widget.run_button, Qt.LeftButton)
    try:
        qtbot.wait(1500)  # the relay shows the latest report: the warning came after "1 of 2"
        assert widget.bar.value() == 50
    finally:
        release.set()
    qtbot.waitUntil(lambda: widget.job.finished.is_set(), timeout=30000)
    assert widget.bar.value() == 100


def test_cancel_keeps_the_bar_at_what_finished_and_shows_the_finished_rows(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """Review (h9): after Cancel the bar read 0 % although 2 of 5 recordings had finished (and
    are kept), and their report rows were not shown (report.csv is written only at the end)."""
    from qtpy.QtCore import Qt

    import napari_catrack.batch.runner as runner

    names = [f"rec0{i}" for i in range(5)]

    def two_then_cancel(manifest, output, *, progress, cancel, **_):
        progress(0, 5, "")
        progress(1, 5, names[0])
        progress(2, 5, names[1])
        for _ in range(300):  # until Cancel is clicked (as the runner checks after each one)
            if cancel():
                break
            time.sleep(0.1)
        rows = [[n, s, "done", 0.1, "ok"] for n in names[:2] for s in ("track", "traces")]
        rows[3][2:] = ["failed", 0.0, "traces: something went wrong"]
        report = pd.DataFrame(rows, columns=["recording", "step", "status", "seconds", "message"])
        raise runner.BatchCancelled(
            "batch cancelled after 2 of 5 recordings; finished recordings are kept and a rerun "
            "completes the others",
            report,
            2,
            5,
        )

    monkeypatch.setattr(runner, "run_batch", two_then_cancel)
    widget = batch_widget_with_recordings(make_napari_viewer, tmp_path, 5)
    qtbot.mouseClick(widget.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: widget.bar.value() == 40, timeout=10000)
    assert widget.cancel_button.isEnabled()
    qtbot.mouseClick(widget.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: widget.job.finished.is_set(), timeout=30000)
    assert widget.job.outcome == "cancelled"
    assert widget.bar.value() == 40  # 2 of 5 finished, not 0 %
    assert widget.report.rowCount() == 4
    assert [widget.report.item(r, 0).text() for r in range(4)] == ["rec00"] * 2 + ["rec01"] * 2
    assert widget.report.item(3, 2).text() == "failed"
    status = widget.status.text()
    assert status.startswith("batch cancelled after 2 of 5 recordings"), status
    assert "rec01: traces failed: traces: something went wrong" in status
    assert widget.run_button.isEnabled() and not widget.cancel_button.isEnabled()


def test_cancel_writes_the_report_with_the_unfinished_recordings_cancelled(
    make_napari_viewer, qtbot, tmp_path
):
    """Leftover (h10): Cancel wrote no report.csv. Clicking Cancel on a real batch writes it:
    the finished recording's rows, the others `cancelled`, the status line says where."""
    from qtpy.QtCore import Qt

    widget = batch_widget_with_recordings(make_napari_viewer, tmp_path, 3)
    for name, box in widget.step_boxes.items():
        box.setChecked(name == "track")
    widget.workers.setValue(1)
    qtbot.mouseClick(widget.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: widget.cancel_button.isEnabled(), timeout=10000)
    qtbot.mouseClick(widget.cancel_button, Qt.LeftButton)  # takes effect after the first one
    qtbot.waitUntil(lambda: widget.job.finished.is_set(), timeout=120000)
    assert widget.job.outcome == "cancelled"
    path = tmp_path / "out" / "report.csv"
    report = pd.read_csv(path)
    by_recording = report.groupby("recording", sort=True).status.first().to_dict()
    assert by_recording == {"rec00": "done", "rec01": "cancelled", "rec02": "cancelled"}
    assert str(path) in widget.status.text(), widget.status.text()
    assert widget.report.rowCount() == len(report)
    last = widget.report.rowCount() - 1
    assert widget.report.item(last, 2).text() == "cancelled"


def test_an_added_file_keeps_its_own_frame_rate(make_napari_viewer, qtbot, tmp_path):
    """The widget wrote the open recording's frame rate into the manifest's defaults, so a file
    added beside it that states another rate was retimed (a 20 Hz file run at 10 Hz, only a
    warning in the log). The open recording keeps the rate in force; an added file keeps its
    own, and only a file that states none takes the rate in force."""
    from qtpy.QtCore import Qt

    from napari_catrack.io.tiff import write_movie_tiff

    write_batch_folder(tmp_path, 2, n_frames=8, shape=(32, 32), n_neurons=2)
    movie = tifffile.imread(tmp_path / "rec01.tif")
    write_movie_tiff(tmp_path / "fast.tif", movie[:, 0], movie[:, 1], fps=20.0)
    write_movie_tiff(tmp_path / "bare.tif", movie[:, 0], movie[:, 1], fps=None)
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "rec00.tif"), plugin=PLUGIN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch")
    widget.table.item(0, 2).setText(str(tmp_path / "seeds00.csv"))
    widget._add(str(tmp_path / "fast.tif"), seeds=str(tmp_path / "seeds01.csv"))
    widget._add(str(tmp_path / "bare.tif"), seeds=str(tmp_path / "seeds01.csv"))
    for name, box in widget.step_boxes.items():
        box.setChecked(name == "track")
    widget.workers.setValue(1)
    widget.output.setText(str(tmp_path / "out"))
    qtbot.mouseClick(widget.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: widget.job is not None and widget.job.finished.is_set(), timeout=120000)
    written = yaml.safe_load((tmp_path / "out" / "manifest.yaml").read_text())
    assert "fps" not in written["defaults"]
    fps = {Path(r["path"]).name: r.get("fps") for r in written["recordings"]}
    assert fps == {"rec00.tif": 10.0, "fast.tif": None, "bare.tif": 10.0}
    assert "differs from" not in widget.status.text()


def test_add_files_and_add_folder_offer_what_catrack_batch_reads_and_fill_the_names(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """Leftover (h10): the name column stayed empty, and "Add files…" offered only TIFF/HDF5 (no
    .zarr, which is a folder, nor videos). The buttons are clicked; the dialogs answer."""
    import zarr
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QFileDialog

    from napari_catrack.batch.manifest import parse_manifest

    write_batch_folder(tmp_path, 2, n_frames=8, shape=(32, 32), n_neurons=2)
    (tmp_path / "day2").mkdir()
    tifffile.imwrite(tmp_path / "day2" / "rec00.tif", tifffile.imread(tmp_path / "rec00.tif"))
    movie = zarr.open_array(str(tmp_path / "movie.zarr"), mode="w", shape=(8, 32, 32),
                            dtype="uint16")  # fmt: skip
    movie[:] = 100
    (tmp_path / "empty").mkdir()
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch")
    asked = {}

    def files(parent, caption, folder, filters):
        asked["filters"] = filters
        return [str(tmp_path / "rec00.tif"), str(tmp_path / "rec01.tif")], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(files))
    qtbot.mouseClick(widget.add_files_button, Qt.LeftButton)
    for pattern in ("*.tif", "*.tiff", "*.h5", "*.hdf5", "*.avi", "*.mp4"):
        assert pattern in asked["filters"], asked["filters"]
    names = lambda: [widget.table.item(r, 0).text() for r in range(widget.table.rowCount())]  # noqa: E731
    assert names() == ["rec00", "rec01"]
    answer = [str(tmp_path / "empty")]
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a: answer[0]))
    qtbot.mouseClick(widget.add_folder_button, Qt.LeftButton)  # no movie in it: said, not added
    assert widget.table.rowCount() == 2
    assert "neither a .zarr movie nor a folder of TIFF, PNG or JPEG frames" in widget.status.text()
    answer[0] = str(tmp_path / "movie.zarr")
    qtbot.mouseClick(widget.add_folder_button, Qt.LeftButton)
    assert widget.table.item(2, 1).text() == str(tmp_path / "movie.zarr")
    answer[0] = str(tmp_path / "day2")  # a folder of TIFFs, whose one file is also named rec00
    qtbot.mouseClick(widget.add_folder_button, Qt.LeftButton)
    files_too = [str(tmp_path / "day2" / "rec00.tif")]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a: (files_too, "")))
    qtbot.mouseClick(widget.add_files_button, Qt.LeftButton)
    # the names the batch gives them (the same stem twice: its folder's name in front)
    expected = [f"{tmp_path.name}_rec00", "rec01", "movie", "day2", "day2_rec00"]
    assert names() == expected
    data = widget.manifest_dict()
    assert not any("name" in entry for entry in data["recordings"])  # left to the manifest
    assert [r.name for r in parse_manifest(data, tmp_path).recordings] == expected
    widget.table.item(1, 0).setText("mine")  # a typed name stays and goes into the manifest
    widget.table.setCurrentCell(0, 1)
    widget._remove_current()
    assert names() == ["mine", "movie", "day2", "rec00"]
    assert [e.get("name") for e in widget.manifest_dict()["recordings"]] == ["mine", None, None,
                                                                            None]  # fmt: skip


def test_batch_widget_exports_nwb_with_its_metadata_file_as_catrack_batch_reads_it(
    make_napari_viewer, tmp_path
):
    """Failed before h21 (no export or NWB metadata field): the widget's export boxes and NWB
    metadata file are the manifest's `export` and `nwb_metadata` (`manifest.export_keys`), and
    the manifest it saves is read by `catrack batch`'s reader as the widget shows it; the file
    counts with nwb ticked only, and a bad one is refused at Run as the command refuses it."""
    from napari_catrack.batch.manifest import read_manifest

    widget = batch_widget_with_recordings(make_napari_viewer, tmp_path, 1)
    assert [n for n, b in widget.export_boxes.items() if b.isChecked()] == ["tables"]
    assert not widget.nwb_metadata.isEnabled()
    assert "export" not in widget.manifest_dict()["defaults"]  # the manifest's default
    meta = tmp_path / "meta.yaml"
    meta.write_text("institution: Test institute\nsubject: {subject_id: w1, species: "
                    "Caenorhabditis elegans, sex: XX, age: P3D}\n")  # fmt: skip
    widget.export_boxes["nwb"].setChecked(True)
    assert widget.nwb_metadata.isEnabled() and widget.nwb_choose.isEnabled()
    widget.nwb_metadata.setText(str(meta))
    defaults = widget.manifest_dict()["defaults"]
    assert defaults["export"] == ["tables", "nwb"] and defaults["nwb_metadata"] == str(meta)
    saved = widget.write_manifest(tmp_path / "m" / "manifest.yaml")
    (spec,) = read_manifest(saved, output=tmp_path / "out").recordings  # as `catrack batch`
    assert spec.export == ("tables", "nwb") and spec.files["nwb_metadata"] == meta

    widget.export_boxes["nwb"].setChecked(False)  # without nwb: not written (it is refused)
    assert not widget.nwb_metadata.isEnabled()
    assert "nwb_metadata" not in widget.manifest_dict()["defaults"]
    widget.export_boxes["tables"].setChecked(False)
    assert widget.run() is None
    assert "choose what to export: some of tables, figures, nwb" in widget.status.text()

    widget.export_boxes["nwb"].setChecked(True)
    meta.write_text("institution: Test institute\nsubjekt: {subject_id: w1}\n")
    assert widget.run() is None  # checked with the manifest, before anything is written
    assert "nwb_metadata:" in widget.status.text() and "subjekt" in widget.status.text()
    assert not (tmp_path / "out").exists()

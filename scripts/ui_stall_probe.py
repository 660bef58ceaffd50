"""How long does napari's main thread stall while each widget action runs? (developer tool)

A QTimer on the main thread fires every 10 ms; the longest gap between two ticks while an action
runs (from the button's call until its worker has finished and the result is shown, plus a short
settle) is the longest time the UI could not repaint or answer a click. Each action is driven
through the method its button calls, in a real `napari.Viewer`, on data of a realistic size, all
of it in a scratch folder (autosave writes beside the recording: never point this at real data).

    QT_API=pyqt5 PYTHONPATH=src xvfb-run -a python scripts/ui_stall_probe.py --out /tmp/stalls.md
    ... --parts imaging --frames 500        # a quicker look at one part

Parts: imaging (a synthetic two-channel worm movie: open, align, detect, track, traces,
transients, ensembles, slider steps with every layer, autosave, save, reopen, export, and the
`catrack demo` session), behaviour (a synthetic crawling-worm video: segment, centerline,
velocity), two-photon (SIMA's real movie copied from ../shared/data: open, registration, summary,
sources), behaviour-edit (not in the default parts: a long behaviour session opened, a centerline
dragged twice, the viewer closed at once; `--parts behaviour-edit --frames 20000`). Columns: the longest stall (ms), where it happened (in the call itself, while the
worker ran, or after it, i.e. showing the result), whether the action runs in a worker with a
progress bar and whether a Cancel button was enabled while it ran.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_API", "pyqt5")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PLUGIN = "napari-catrack"


class StallMeter:
    """A 10 ms main-thread timer; `measure` returns the longest gap between its ticks."""

    def __init__(self) -> None:
        from qtpy.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst = 0.0
        self.worst_at = 0.0
        self.rows: list[dict[str, Any]] = []
        self.main_id = threading.get_ident()
        self.blame: collections.Counter = collections.Counter()
        self.sampling = False
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        """While a tick is late (> 100 ms), note which project function the main thread is in:
        the 'blamed' column (a thread that holds the GIL in C code delays this sampler too)."""
        while True:
            time.sleep(0.02)
            if not self.sampling or time.perf_counter() - self.last < 0.1:
                continue
            frame = sys._current_frames().get(self.main_id)
            stack = traceback.extract_stack(frame) if frame is not None else []
            ours = [f for f in stack if "napari_catrack" in f.filename]
            top = ours[-1] if ours else (stack[-1] if stack else None)
            if top is not None:
                where = Path(top.filename).name
                self.blame[f"{where}:{top.name}"] += 1

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = now - self.last
        if gap > self.worst:
            self.worst, self.worst_at = gap, now
        self.last = now

    def spin(self, seconds: float) -> None:
        """Let the event loop run (the timer ticks, workers deliver their results)."""
        from qtpy.QtWidgets import QApplication

        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            QApplication.processEvents()
            time.sleep(0.002)

    def measure(
        self,
        name: str,
        action: Callable[[], Any],
        *,
        widget: Any = None,
        done: Callable[[], bool] | None = None,
        timeout: float = 900.0,
        settle: float = 0.3,
    ) -> Any:
        """Run `action()` from the event loop; wait for the job it returns (or `done()`)."""
        from qtpy.QtWidgets import QApplication, QPushButton

        from napari_catrack.widgets._worker import Job

        self.spin(0.2)
        self.last, self.worst, self.worst_at = time.perf_counter(), 0.0, 0.0
        self.blame.clear()
        self.sampling = True
        self.timer.start()
        t0 = time.perf_counter()
        error = ""
        try:
            result = action()
        except Exception as exc:  # a probe row, not a crash: the table says what failed
            result, error = None, f"{type(exc).__name__}: {exc}"
        returned = time.perf_counter()
        QApplication.processEvents()
        job = result if isinstance(result, Job) else getattr(widget, "job", None)
        job = job if isinstance(job, Job) and job.running else None
        cancel = False
        shown = []  # when the job's result had been shown (its on_done has returned)
        if job is not None and job.worker is not None:
            job.worker.returned.connect(lambda *_: shown.append(time.perf_counter()))
            job.worker.errored.connect(lambda *_: shown.append(time.perf_counter()))

        def running() -> bool:
            if job is not None:
                return job.running
            return done is not None and not done()

        while running() and time.perf_counter() - t0 < timeout:
            if widget is not None and not cancel:
                cancel = any(
                    b.isEnabled() and "cancel" in b.text().lower()
                    for b in widget.findChildren(QPushButton)
                )
            QApplication.processEvents()
            time.sleep(0.002)
        while not saves_idle() and time.perf_counter() - t0 < timeout:  # its background autosave
            QApplication.processEvents()
            time.sleep(0.002)
        finished = time.perf_counter()
        self.spin(settle)
        self.timer.stop()
        self.sampling = False
        start = self.worst_at - self.worst
        if self.worst_at <= returned + 0.02:
            where = "in the call"
        elif shown and start <= shown[0] <= self.worst_at + 0.001:
            where = "showing the result"
        elif shown and self.worst_at < shown[0]:
            where = "worker running"
        else:
            where = "after the call"  # napari drawing what the call changed, or a late result
        row = {
            "action": name,
            "stall_ms": round(self.worst * 1000),
            "where": where,
            "call_ms": round((returned - t0) * 1000),
            "total_s": round(finished - t0, 1),
            "blamed": ", ".join(f"{k} ({v})" for k, v in self.blame.most_common(2)),
            "worker": "yes" if isinstance(result, Job) or job is not None else "no",
            "cancel": "yes" if cancel else "no",
            "outcome": error or (getattr(result, "outcome", "") if isinstance(result, Job) else ""),
        }
        self.rows.append(row)
        print(
            f"{name:45s} {row['stall_ms']:7d} ms  call {row['call_ms']:6d} ms  {where:18s} "
            f"{row['total_s']:6.1f} s  worker={row['worker']} cancel={row['cancel']} "
            f"{row['outcome']}  [{row['blamed']}]",
            flush=True,
        )
        return result

    def table(self) -> str:
        head = (
            "| action | longest stall (ms) | the call itself (ms) | where | total (s) "
            "| worker + progress | Cancel | main thread was in |"
        )
        lines = [head, "|---|---:|---:|---|---:|---|---|---|"]
        for r in self.rows:
            note = f" ({r['outcome']})" if r["outcome"] not in ("", "done") else ""
            lines.append(
                f"| {r['action']}{note} | {r['stall_ms']} | {r['call_ms']} | {r['where']} | "
                f"{r['total_s']} | {r['worker']} | {r['cancel']} | {r['blamed']} |"
            )
        return "\n".join(lines)


def opener(loader):
    """What the loader's Open button calls (`start_open`, a worker; before: `open_recording`)."""
    return getattr(loader, "start_open", loader.open_recording)


def dock(viewer, name: str):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def imaging(meter: StallMeter, tmp: Path, frames: int, make_viewer) -> None:
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import session_for_viewer
    from napari_catrack.synthetic import make_worm_recording

    movie = tmp / f"worm{frames}.tif"
    if not movie.exists():
        rec = make_worm_recording(n_frames=frames, shape=(256, 256), seed=0)
        write_movie_tiff(movie, rec.green, rec.red, fps=rec.fps, pixel_size_um=rec.pixel_size_um)
        del rec
    viewer = make_viewer()
    loader = dock(viewer, "Load recording")
    align = dock(viewer, "Align channels")
    tracking = dock(viewer, "Track neurons")
    traces = dock(viewer, "Traces (signals)")
    transients = dock(viewer, "Transients curation")
    ensembles = dock(viewer, "Neuronal ensembles")
    export = dock(viewer, "Export")
    loader.path.value = movie
    meter.measure("open recording (loader)", opener(loader), widget=loader)
    meter.measure("alignment: estimate", align.estimate, widget=align)
    meter.measure("alignment: accept (autosave)", align.accept)
    viewer.dims.set_current_step(0, frames // 2)
    panel = tracking.candidates
    meter.measure("detect: candidates preview", panel.request_preview, widget=panel)
    meter.measure("detect: use all (autosave)", panel.use_all)
    meter.measure("track", tracking.start_tracking, widget=tracking)
    meter.measure("traces: extract", traces.extract, widget=traces)
    meter.measure("transients: use session traces", transients.load_session_traces)
    meter.measure("transients: detect", transients.detect, widget=transients)
    cells = [str(i) for i in transients.state.ids]
    transients.select_cell(cells[0])
    meter.measure("transients: accept a cell (autosave)", transients.accept_button.click)
    ensembles.shuffles.setValue(100)
    meter.measure("ensembles: find", ensembles.find, widget=ensembles)
    for step in (1, 2, frames // 3, frames - 1):
        meter.measure(
            f"time slider step to {step} (all layers)",
            lambda s=step: viewer.dims.set_current_step(0, s),
        )
    session = session_for_viewer(viewer)
    meter.measure("session: autosave (record a step)", lambda: session.save())
    out = tmp / "analysis.catrack.h5"
    meter.measure("session: save as (writer)", lambda: viewer.layers.save(str(out), plugin=PLUGIN))
    export.folder.setText(str(tmp / "export"))
    export.select(["tracks", "traces", "transients", "session"])
    meter.measure("export: tables + session", export.export, widget=export)
    fresh = make_viewer()
    meter.measure("session: open (fresh viewer)", lambda: fresh.open(str(out), plugin=PLUGIN))
    meter.measure(
        "session open: dock Track neurons",
        lambda: dock(fresh, "Track neurons"),
    )
    meter.measure("session open: dock Traces", lambda: dock(fresh, "Traces (signals)"))
    meter.measure("session open: dock Transients", lambda: dock(fresh, "Transients curation"))
    demo = tmp / "demo"
    if not (demo / "demo.catrack.h5").exists():
        from napari_catrack.demo import run_demo

        run_demo(demo, log=lambda *_: None)
    demo_viewer = make_viewer()
    meter.measure(
        "demo session: open",
        lambda: demo_viewer.open(str(demo / "demo.catrack.h5"), plugin=PLUGIN),
    )


def behaviour(meter: StallMeter, tmp: Path, frames: int, make_viewer) -> None:
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    video = make_behaviour_video(frames, shape=(256, 256), seed=0)
    stage = tmp / "stage.csv"
    video.stage_table().to_csv(stage, index=False)
    viewer = make_viewer()
    viewer.add_image(
        video.frames, name="behaviour cam", metadata={"catrack": {"role": "behaviour"}}
    )
    widget = dock(viewer, "Worm behaviour")
    layer = widget.add_prompts()
    y, x = video.truth.centerline[0, 50]
    layer.add([[0, y, x]])
    widget.form.control("method").setCurrentText("classical")
    meter.measure("behaviour: segment (classical)", widget.segment, widget=widget)
    meter.measure(
        "behaviour: centerline",
        lambda: widget._panel_action(widget.centerline, "run"),
        widget=widget,
    )
    widget.velocity.stage.setText(str(stage))
    widget.velocity.pixel.setValue(video.pixel_size_um)
    widget.velocity.fps.setValue(video.fps)
    meter.measure(
        "behaviour: velocity", lambda: widget._panel_action(widget.velocity, "run"), widget=widget
    )
    meter.measure("behaviour: show plot", widget.show_plot)
    for step in (1, frames // 2):
        meter.measure(
            f"behaviour: slider step to {step}", lambda s=step: viewer.dims.set_current_step(0, s)
        )


def saves_idle() -> bool:
    """No session save queued or being written (`save_queue`; always True before it existed)."""
    try:
        from napari_catrack.save_queue import idle
    except ImportError:
        return True
    return idle()


def behaviour_edit(meter: StallMeter, tmp: Path, frames: int, make_viewer) -> None:
    """A long behaviour session (`benchmarks/bench_behaviour_open.py`'s: 96 x 96 masks, 50-point
    centerlines) opened with File > Open; a centerline dragged (its autosave), then a second drag
    and the viewer closed at once (the edit must be in the file after the close)."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_behaviour_open import build
    from napari_catrack.core.behaviour.records import centerline_from_session
    from napari_catrack.session import Session

    path = build(tmp / f"behaviour{frames}", frames)
    viewer = make_viewer()
    meter.measure("behaviour session: open", lambda: viewer.open(str(path), plugin=PLUGIN))
    layer = viewer.layers["centerline"]

    def drag(t: int, dx: float) -> None:
        viewer.dims.set_current_step(0, t)
        meter.spin(0.2)
        moved = np.array(layer.data[0], float)
        moved[:, -1] += dx
        meter.measure(
            f"behaviour session: drag frame {t}'s centerline (autosave)",
            lambda: setattr(layer, "data", [moved]),
            done=saves_idle,
        )

    drag(frames // 2, 2.0)
    drag(frames // 3, 3.0)
    t0 = time.perf_counter()
    viewer.close()  # (closed outside the meter: its timer outlives the window)
    print(f"viewer closed right after the drag in {time.perf_counter() - t0:.2f} s", flush=True)
    stored = centerline_from_session(Session.load(path))[0]
    edited = sorted(int(t) for t in np.nonzero(stored.status == "edited")[0])
    print(f"edited frames in the file after the close: {edited}", flush=True)


def two_photon(meter: StallMeter, tmp: Path, make_viewer) -> None:
    src = SHARED / "sima" / "example.tif"
    if not src.exists():
        print(f"two-photon part skipped: {src} is absent")
        return
    movie = tmp / "sima" / "example.tif"
    movie.parent.mkdir(exist_ok=True)
    shutil.copyfile(src, movie)
    viewer = make_viewer()
    loader = dock(viewer, "Load recording")
    reg = dock(viewer, "Motion correction")
    sources = dock(viewer, "Sources (two-photon)")
    loader.path.value = movie
    loader.fps.value = 15.0  # SIMA's example has no frame rate; the sources step needs one
    meter.measure("two-photon: open SIMA movie", opener(loader), widget=loader)
    meter.measure("registration: run", reg.run, widget=reg)
    meter.measure("summary images", sources.run_summary, widget=sources)
    sources.form.control("patch_px").setValue(0)
    meter.measure("sources: extract", sources.run_extract, widget=sources)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--parts", default="imaging,behaviour,two-photon")
    parser.add_argument("--tmp", help="scratch folder (default: a new one in the system's)")
    parser.add_argument("--out", help="write the markdown table here too")
    args = parser.parse_args(argv)
    import napari
    from qtpy.QtWidgets import QApplication

    tmp = Path(args.tmp) if args.tmp else Path(tempfile.mkdtemp(prefix="ui_stall_"))
    tmp.mkdir(parents=True, exist_ok=True)
    viewers: list = []

    def make_viewer():
        viewer = napari.Viewer(show=True)
        viewers.append(viewer)
        return viewer

    meter = StallMeter()
    parts = args.parts.split(",")
    if "imaging" in parts:
        imaging(meter, tmp, args.frames, make_viewer)
    if "behaviour" in parts:
        behaviour(meter, tmp, args.frames, make_viewer)
    if "two-photon" in parts:
        two_photon(meter, tmp, make_viewer)
    if "behaviour-edit" in parts:
        behaviour_edit(meter, tmp, args.frames, make_viewer)
    text = meter.table()
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    for viewer in viewers:
        if hasattr(viewer.window, "_qt_window"):  # not closed by its part already
            viewer.close()
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())

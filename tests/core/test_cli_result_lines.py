"""Each command's result line is on stdout, notes and warnings on stderr (`catrack: ...`).

`catrack traces` and `catrack align` wrote theirs on stderr (`catrack traces: 23 neurons x 300
frames -> traces.csv`), unlike track, detect, transients and the rest; `catrack track` said only
"23 neurons x 300 frames -> tracks.csv", not the channel it tracked, the places to review or the
neurons it lost, which the Track neurons widget says (h18 first-hour walk)."""

from __future__ import annotations

import pandas as pd

from napari_catrack.cli import main
from napari_catrack.core.tracking.review import review_stretches
from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.synthetic import make_worm_recording


def test_result_lines_are_on_stdout_and_track_says_what_to_review(tmp_path, capsys):
    rec = make_worm_recording(n_frames=40, shape=(128, 128), n_neurons=8, seed=5)
    path = write_movie_tiff(tmp_path / "rec.tif", rec.green, rec.red, fps=rec.fps)
    pos = rec.truth.positions[0]
    seeds = pd.DataFrame({"neuron_id": rec.truth.neuron_ids, "y": pos[:, 0], "x": pos[:, 1]})
    # a seed on empty background: no peak of its own, so it is lost and listed for review
    seeds.loc[len(seeds)] = ["nobody", 12.0, 12.0]
    seeds.to_csv(tmp_path / "seeds.csv", index=False)
    align, tracks, traces = (tmp_path / n for n in ("align.json", "tracks.csv", "traces.csv"))

    assert main(["align", str(path), "-o", str(align)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("red -> green: dy=") and out.rstrip().endswith(f"-> {align}"), out
    assert "-> " not in err, err

    argv = ["track", str(path), "--seeds", str(tmp_path / "seeds.csv"), "--align", str(align)]
    assert main([*argv, "-o", str(tracks)]) == 0
    out, err = capsys.readouterr()
    table = pd.read_csv(tracks)
    review = review_stretches(table, threshold=0.5, merge_gap=10)
    lost = table[table.status == "lost"]
    assert len(review) >= 1 and "nobody" in set(lost.neuron_id)  # the case is what it means
    assert out == (
        f"tracking on red: 9 neurons x 40 frames; {len(review)} place(s) to review (confidence "
        f"< 0.5); {lost.neuron_id.nunique()} neuron(s) lost in {len(lost)} neuron-frame(s) -> {tracks}\n"
    )
    assert "-> " not in err, err

    argv = ["traces", str(path), "--tracks", str(tracks), "--align", str(align)]
    assert main([*argv, "-o", str(traces)]) == 0
    out, err = capsys.readouterr()
    assert out == f"9 neurons x 40 frames -> {traces} (dff: ratio dR/R0)\n"
    assert "-> " not in err and "lost frames" in err, err  # its note stays on stderr


def test_every_channel_option_says_what_it_is():
    """`catrack track --help` listed `--green-channel I` and `--red-channel I` with no word on
    what they pick (a file with 3+ channels needs them), nor did `catrack detect --channel`."""
    import argparse

    from napari_catrack.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    bare = [
        f"{name} {action.option_strings[-1]}"
        for name, parser in sub.choices.items()
        for action in parser._actions
        if any(o.endswith("channel") for o in action.option_strings) and not action.help
    ]  # fmt: skip
    assert not bare, bare


def test_the_two_photon_and_export_result_lines_are_on_stdout(tmp_path, capsys):
    """`catrack register`, `summary`, `sources`, `export` and `export-nwb` wrote their result line
    on stderr (`36 components, 9 accepted -> sources`), unlike every other command (h18)."""
    import tifffile

    from napari_catrack.synthetic.two_photon import make_two_photon_movie

    movie = make_two_photon_movie(80, (40, 48), n_cells=5, seed=3, motion_px=0).movie
    rec, session = tmp_path / "rec.tif", tmp_path / "s.catrack.h5"
    tifffile.imwrite(rec, movie)
    reg, images, sources = tmp_path / "reg.tif", tmp_path / "summary", tmp_path / "sources"
    exported, nwb, shifts = tmp_path / "export", tmp_path / "s.nwb", tmp_path / "shifts.csv"
    with_session = ["--session", str(session)]

    argv = ["register", str(rec), "--mode", "rigid", "-o", str(reg), "--shifts", str(shifts)]
    assert main([*argv, *with_session]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("registered 80 frames (rigid): ") and out.endswith(f"-> {reg}\n"), out
    assert out.count("\n") == 1 and "-> " not in err, err

    assert main(["summary", str(rec), "-o", str(images), *with_session]) == 0
    out, err = capsys.readouterr()
    names = sorted(p.stem for p in images.glob("*.tif"))
    assert len(names) == 5 and out.startswith("summary images (") and out.endswith(f"-> {images}\n")
    assert sorted(out[len("summary images (") : out.index(")")].split(", ")) == names, out
    assert "-> " not in err, err

    argv = ["sources", str(rec), "--fps", "30", "--patch-px", "0", "-o", str(sources)]
    assert main([*argv, *with_session]) == 0
    out, err = capsys.readouterr()
    comps = pd.read_csv(sources / "components.csv")
    n_acc = int(comps["accepted"].sum())
    assert n_acc >= 1 and out == f"{len(comps)} components, {n_acc} accepted -> {sources}\n"
    assert "-> " not in err, err

    assert main(["export", str(session), "-o", str(exported)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()  # each file written, then the result line
    files = sorted(str(p.relative_to(exported)) for p in exported.rglob("*") if p.is_file())
    assert sorted(lines[:-1]) == files and len(files) >= 5, out
    assert lines[-1] == f"{len(files)} file(s) written to {exported}", out
    assert "written" not in err, err

    assert main(["export-nwb", str(session), "-o", str(nwb), "--no-prompt"]) == 0
    out, err = capsys.readouterr()
    assert nwb.is_file() and out == f"{session} -> {nwb}\n", out
    assert "-> " not in err, err


def test_batch_with_its_progress_bar_keeps_stdout_to_the_result_line(tmp_path, monkeypatch, capsys):
    """`catrack batch` on a terminal draws a rich progress bar; rich's console is stdout, so the
    bar and every note printed above it (`dask dashboard: ...`) landed among the result lines
    (session 18's Left list). Now they are on stderr, as the plain `catrack batch:` lines."""
    import sys

    import napari_catrack.batch.runner as runner
    from napari_catrack.batch.runner import BatchResult
    from napari_catrack.synthetic.batch import write_batch_folder

    manifest = write_batch_folder(tmp_path / "in", 2, n_frames=20, shape=(48, 48), n_neurons=2,
                                  steps=("track",), extra={"no_align": True})  # fmt: skip
    drawn = []

    def run_batch(manifest, output, *, log, progress, **where):  # the command's side of a run
        log("dask dashboard: http://127.0.0.1:8787/status")
        log("rec01: a note naming [bold]odd[/bold] files")  # text, not rich markup
        for i, spec in enumerate(manifest.recordings, 1):
            progress(i, len(manifest.recordings), spec.name)
            drawn.append(spec.name)
        rows = [{"recording": s.name, "step": "track", "status": "done", "seconds": 0.1,
                 "message": ""} for s in manifest.recordings]  # fmt: skip
        return BatchResult(tmp_path / "out", pd.DataFrame(rows))

    monkeypatch.setattr(runner, "run_batch", run_batch)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal: the bar is drawn
    assert main(["batch", str(manifest), "-o", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    assert drawn == ["rec00", "rec01"]
    summary = BatchResult(tmp_path / "out", pd.DataFrame({"recording": drawn, "step": "track",
                          "status": "done", "seconds": 0.1, "message": ""})).summary()  # fmt: skip
    assert out == f"{summary} (0.0 s) -> {tmp_path / 'out' / 'report.csv'}\n", out
    assert "catrack batch: dask dashboard: http://127.0.0.1:8787/status" in err, err
    assert "catrack batch: rec01: a note naming [bold]odd[/bold] files" in err, err
    assert "2/2" in err  # the bar itself, on stderr

"""The one alignment rule of the CLI: --align, else the session's accepted one, else an estimate.

A recording whose red is 3 px / 1.2 deg off green: tracking and traces WITHOUT --align must land on
the truth (before the rule, `track` treated red pixels as green: 0.25 % within 2 px).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.core.alignment_rule import alignment_for_recording
from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.io.recording import open_recording
from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.session import Session, default_session_path
from napari_catrack.synthetic import make_worm_recording

OFF = {"dy": 2.4, "dx": -1.8, "rotation_deg": 1.2}  # 3.0 px and 1.2 deg


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    rec = make_worm_recording(n_frames=40, shape=(128, 128), n_neurons=8, seed=5, misalignment=OFF)
    folder = tmp_path_factory.mktemp("rule")
    path = write_movie_tiff(folder / "rec.tif", rec.green, rec.red, fps=rec.fps)
    pos = rec.truth.positions[0]
    seeds = pd.DataFrame({"neuron_id": rec.truth.neuron_ids, "y": pos[:, 0], "x": pos[:, 1]})
    seeds.to_csv(folder / "seeds.csv", index=False)
    return rec, path, folder


def _within_2px(rec, tracks_csv) -> float:
    df = pd.read_csv(tracks_csv).sort_values(["neuron_id", "frame"])
    ids = {n: i for i, n in enumerate(rec.truth.neuron_ids)}
    truth = rec.truth.positions[df.frame.to_numpy(), df.neuron_id.map(ids).to_numpy()]
    return float((np.linalg.norm(df[["y", "x"]].to_numpy() - truth, axis=1) <= 2).mean())


def test_track_without_align_estimates_and_says_so(movie, capsys):
    rec, path, folder = movie
    out = folder / "tracks.csv"
    assert main(["track", str(path), "--seeds", str(folder / "seeds.csv"), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    said = re.search(r"alignment estimated: dy ([-+.\d]+) px, dx ([-+.\d]+) px, rotation ([-+.\d]+)",
                     err)  # fmt: skip
    assert said, err
    assert [float(v) for v in said.groups()] == pytest.approx([2.4, -1.8, 1.2], abs=0.1)
    assert _within_2px(rec, out) >= 0.99
    # opting out is explicit, said, and visibly wrong on this recording
    out2 = folder / "tracks_noalign.csv"
    argv = ["track", str(path), "--seeds", str(folder / "seeds.csv"), "--no-align", "-o", str(out2)]
    assert main(argv) == 0
    assert "--no-align" in capsys.readouterr().err
    assert _within_2px(rec, out2) < 0.5


def test_session_alignment_wins_over_estimate_and_file_wins_over_session(movie, capsys):
    rec, path, folder = movie
    session = Session(default_session_path(path))
    session.record("alignment", attrs=AlignmentTransform(**OFF, source="manual").to_dict())
    try:
        r = open_recording(path)
        used = alignment_for_recording(r, log=print)
        assert used.source == "accepted" and used.transform.dy == pytest.approx(2.4)
        assert "accepted" in capsys.readouterr().out
        f = folder / "align.json"
        f.write_text(json.dumps({"dy": 0.5, "dx": 0.0, "rotation_deg": 0.0}))
        used = alignment_for_recording(r, align_file=f)
        assert used.source == "file" and used.transform.dy == 0.5
        out = folder / "tracks_session.csv"
        argv = ["track", str(path), "--seeds", str(folder / "seeds.csv"), "-o", str(out)]
        assert main(argv) == 0
        assert "alignment accepted" in capsys.readouterr().err
        assert _within_2px(rec, out) >= 0.99
    finally:
        session.path.unlink()


def write_truth_tracks(rec, path) -> None:
    """The synthetic recording's true neuron positions as a `neuron_id,frame,y,x` tracks CSV."""
    pos = rec.truth.positions
    t, n = np.meshgrid(np.arange(pos.shape[0]), np.arange(pos.shape[1]), indexing="ij")
    pd.DataFrame({"neuron_id": np.asarray(rec.truth.neuron_ids)[n.ravel()], "frame": t.ravel(),
                  "y": pos[..., 0].ravel(), "x": pos[..., 1].ravel()}).to_csv(path, index=False)  # fmt: skip


def test_traces_without_align_sample_red_on_the_neurons(movie, capsys):
    rec, path, folder = movie
    truth_tracks = folder / "truth_tracks.csv"
    write_truth_tracks(rec, truth_tracks)
    true_align = folder / "true_align.json"
    true_align.write_text(json.dumps(OFF))
    reds = {}
    for name, extra in (("default", []), ("file", ["--align", str(true_align)]),
                        ("none", ["--no-align"])):  # fmt: skip
        out = folder / f"traces_{name}.csv"
        argv = ["traces", str(path), "--tracks", str(truth_tracks), *extra, "-o", str(out)]
        assert main(argv) == 0
        reds[name] = pd.read_csv(out).red.to_numpy()
    assert "alignment estimated" in capsys.readouterr().err
    rel = np.abs(reds["default"] - reds["file"]) / np.abs(reds["file"])
    assert np.median(rel) < 0.02  # the estimate samples red where the true alignment does
    assert np.median(reds["none"]) < 0.8 * np.median(reds["file"])  # identity misses the neurons


def test_contradictory_options_and_single_channel(tmp_path, movie):
    rec, path, folder = movie
    r = open_recording(path)
    from napari_catrack.errors import InputError

    with pytest.raises(InputError, match="contradict"):
        alignment_for_recording(r, align_file=folder / "x.json", no_align=True)
    single = write_movie_tiff(tmp_path / "one.tif", rec.green[:3])
    assert alignment_for_recording(open_recording(single)).source == "no red channel"


def test_an_estimate_is_cached_for_the_next_command_until_the_file_changes(
    tmp_path, movie, monkeypatch
):
    """The first command without --align estimates and caches the estimate in the recording's
    session file; the next one reuses it (and says so) instead of estimating again; an accepted
    alignment still wins; a changed file is estimated again."""
    import shutil

    import napari_catrack.core.alignment as alignment

    _, path, _ = movie
    copy = tmp_path / "rec.tif"
    shutil.copyfile(path, copy)
    lines: list[str] = []
    first = alignment_for_recording(open_recording(copy), log=lines.append)
    assert first.source == "estimated" and "cached in rec.catrack.h5 for the next" in lines[-1]
    session_file = default_session_path(copy)
    assert Session.read_step(session_file, "alignment_estimate") is not None
    assert Session.load(session_file).recording["path"] == str(copy)

    calls = []
    real = alignment.estimate_alignment

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(alignment, "estimate_alignment", counting)
    second = alignment_for_recording(open_recording(copy), log=lines.append)
    assert calls == [] and second.transform == first.transform
    assert "estimated by an earlier command, cached in rec.catrack.h5" in lines[-1]
    assert alignment_for_recording(open_recording(copy), cache=False).source == "estimated"
    assert len(calls) == 1  # cache=False neither reads nor writes the cache

    session = Session.load(session_file)
    session.record("alignment", attrs=AlignmentTransform(**OFF, source="manual").to_dict())
    assert alignment_for_recording(open_recording(copy)).source == "accepted"
    session.remove("alignment")

    other = make_worm_recording(n_frames=12, shape=(128, 128), n_neurons=8, seed=9,
                                misalignment=OFF)  # fmt: skip
    write_movie_tiff(copy, other.green, other.red, fps=other.fps)  # same name, new content
    alignment_for_recording(open_recording(copy), log=lines.append)
    assert len(calls) == 2 and "for the next command" in lines[-1]


def test_write_step_adds_one_step_and_keeps_the_rest(tmp_path):
    """Session.write_step touches one step of an existing session file; the rest (steps, tables,
    layers) is kept as it was, and the file is only ever replaced whole (temp + rename)."""
    path = tmp_path / "s.catrack.h5"
    session = Session(path)
    session.layers = [(np.arange(6.0).reshape(3, 2), {"name": "pts"}, "points")]
    session.record("tracks", tables={"tracks": pd.DataFrame({"frame": [0, 1], "y": [1.0, 2.0]})})
    assert Session.write_step(path, "cache", attrs={"a": 1}, params={"p": 2})
    assert Session.write_step(path, "cache", attrs={"a": 3})  # replaced, not duplicated
    loaded = Session.load(path)
    assert loaded["cache"].attrs == {"a": 3}
    assert loaded["tracks"].tables["tracks"]["y"].tolist() == [1.0, 2.0]
    np.testing.assert_array_equal(loaded.layers[0][0], np.arange(6.0).reshape(3, 2))
    assert [p.name for p in tmp_path.iterdir()] == ["s.catrack.h5"]  # no temp file left
    not_a_session = tmp_path / "other.h5"
    import h5py

    with h5py.File(not_a_session, "w"):
        pass
    from napari_catrack.errors import InputError

    with pytest.raises(InputError, match="not a readable napari-catrack session"):
        Session.write_step(not_a_session, "cache", attrs={})


def test_an_estimate_that_matched_nothing_is_used_with_a_warning(tmp_path):
    """detect/track/traces without --align estimate the alignment themselves: a single-channel
    movie read as halves gives a meaningless one, which they must not use without a word."""
    rec = make_worm_recording(n_frames=20, shape=(96, 96), n_neurons=8, seed=4)
    single = tmp_path / "single.tif"
    import tifffile

    tifffile.imwrite(single, rec.green, imagej=True, metadata={"axes": "TYX"})
    lines: list[str] = []
    used = alignment_for_recording(open_recording(single, layout="left-right"), log=lines.append)
    assert used.source == "estimated"
    assert lines[0].startswith("warning: the alignment scores NCC"), lines
    assert "--align FILE or --no-align" in lines[0]


def test_commands_given_session_use_its_recorded_alignment_and_write_nothing_beside(
    movie, tmp_path, capsys
):
    """`catrack align REC -o a.json --session S`, then `catrack traces REC ... --session S`
    (no --align) estimated again, cached the estimate in REC's own session file and said "no
    accepted alignment in the session" (verify N3). Now the alignment recorded in S is used and
    said; nothing is written beside the recording."""
    import shutil

    rec, src, _folder = movie
    path = tmp_path / "rec.tif"
    shutil.copy(src, path)
    truth_tracks = tmp_path / "tracks.csv"
    write_truth_tracks(rec, truth_tracks)
    s = tmp_path / "s.catrack.h5"
    assert main(["align", str(path), "-o", str(tmp_path / "a.json"), "--session", str(s)]) == 0
    # record a deliberately different transform in S (as another `align` run might have)
    other = {"dy": 0.5, "dx": -0.5, "rotation_deg": 0.0}
    session = Session.load(s)
    step = session["alignment"]
    session.record("alignment", attrs={**step.attrs, **other}, params=dict(step.params))
    other_file = tmp_path / "other.json"
    other_file.write_text(json.dumps(other))
    capsys.readouterr()

    out = tmp_path / "traces_session.csv"
    argv = ["traces", str(path), "--tracks", str(truth_tracks), "-o", str(out), "--session", str(s)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "alignment accepted: dy +0.50 px, dx -0.50 px, rotation +0.00 deg (recorded in " \
        "--session s.catrack.h5)" in err, err  # fmt: skip
    assert "no accepted alignment" not in err and "alignment estimated" not in err
    assert not default_session_path(path).exists()  # no cache file beside the recording
    same = tmp_path / "traces_file.csv"
    argv = ["traces", str(path), "--tracks", str(truth_tracks), "-o", str(same),
            "--align", str(other_file)]  # fmt: skip
    assert main(argv) == 0
    np.testing.assert_allclose(pd.read_csv(out).red, pd.read_csv(same).red)
    # --align still comes first
    argv = ["detect", str(path), "--channel", "red", "-o", str(tmp_path / "c.csv"),
            "--session", str(s), "--align", str(tmp_path / "a.json")]  # fmt: skip
    assert main(argv) == 0
    assert "alignment file:" in capsys.readouterr().err

    # a --session file without an alignment: an estimate, said, cached in FILE (not beside REC);
    # REC in a folder of its own (beside S, S's accepted alignment is the recording's: h14)
    path = tmp_path / "alone" / "rec.tif"
    path.parent.mkdir()
    shutil.copy(src, path)
    fresh = tmp_path / "fresh.catrack.h5"
    for run in (1, 2):
        argv = ["traces", str(path), "--tracks", str(truth_tracks), "-o",
                str(tmp_path / f"t{run}.csv"), "--session", str(fresh)]  # fmt: skip
        assert main(argv) == 0
        err = capsys.readouterr().err
        assert "alignment estimated" in err and "no alignment recorded in --session fresh" in err
        said = "cached in fresh.catrack.h5 for the next command" if run == 1 else \
            "estimated by an earlier command, cached in fresh.catrack.h5"  # fmt: skip
        assert said in err, err
        assert not default_session_path(path).exists()
        assert {"alignment_estimate", "traces"} <= set(Session.load(fresh).steps)

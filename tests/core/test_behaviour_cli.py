"""`catrack segment | centerline | velocity` on a Motion-JPEG AVI, and their error messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.core.behaviour.centerline import resample
from napari_catrack.io.masks import read_masks
from napari_catrack.io.video import write_video
from tests.core._behaviour_helpers import iou, small_video


@pytest.fixture
def avi(tmp_path):
    v = small_video()
    path = write_video(tmp_path / "worm.avi", v.frames[:15], fps=v.fps)
    v.stage_table().iloc[:15].to_csv(tmp_path / "stage.csv", index=False)
    return v, path


def _prompt(v, frame=0):
    y, x = v.truth.centerline[frame, 50]
    return f"{y:.1f},{x:.1f}"


def test_segment_centerline_velocity_chain(avi, tmp_path, capsys):
    v, path = avi
    masks_path, cl, vel = tmp_path / "m.tif", tmp_path / "cl.csv", tmp_path / "v.csv"
    assert main(["segment", str(path), "--prompt", _prompt(v), "--method", "classical",
                 "-o", str(masks_path), "--report", str(tmp_path / "q.csv")]) == 0  # fmt: skip
    masks = read_masks(masks_path)
    assert masks.shape == (15, 160, 160) and masks.dtype == bool
    assert np.median([iou(a, b) for a, b in zip(masks, v.truth.masks[:15])]) > 0.85
    assert main(["centerline", "--masks", str(masks_path), "--points", "30", "-o", str(cl),
                 "--posture", str(tmp_path / "p.csv"), "--pixel-size", "10"]) == 0  # fmt: skip
    table = pd.read_csv(cl)
    assert list(table.columns) == ["frame", "point", "y", "x"] and len(table) == 15 * 30
    posture = pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False)
    floats = [c for c in posture.columns if posture[c].str.contains(".", regex=False).any()]
    assert floats
    for col in floats:  # one fixed-point format per column: never 1e-05 beside 0.5 or 96.1
        decimals = {len(v.split(".")[1]) for v in posture[col] if v}
        assert decimals == {6} and not posture[col].str.contains("e").any(), col
    pts = table[["y", "x"]].to_numpy().reshape(15, 30, 2)
    truth = np.stack([resample(c, 30) for c in v.truth.centerline[:15]])
    assert np.median(np.linalg.norm(pts - truth, axis=2).mean(axis=1)) < 2.0  # head first
    assert main(["velocity", "--stage", str(tmp_path / "stage.csv"), "--centerline", str(cl),
                 "--pixel-size", "10", "--fps", str(v.fps), "--image-size", "160,160",
                 "-o", str(vel)]) == 0  # fmt: skip
    out = pd.read_csv(vel)
    assert list(out.columns) == ["frame", "time_s", "x_um", "y_um", "vy_um_s", "vx_um_s",
                                 "speed_um_s", "signed_speed_um_s", "direction"]  # fmt: skip
    moving = v.truth.direction[:15] != 0
    assert np.mean(out.direction.to_numpy()[moving] == v.truth.direction[:15][moving]) > 0.9
    # masks + the video they came from: the head cue from the ends' look is used too
    assert main(["centerline", str(path), "--masks", str(masks_path), "--points", "30",
                 "-o", str(tmp_path / "cl3.csv")]) == 0  # fmt: skip
    pts3 = pd.read_csv(tmp_path / "cl3.csv")[["y", "x"]].to_numpy().reshape(15, 30, 2)
    assert np.median(np.linalg.norm(pts3 - truth, axis=2).mean(axis=1)) < 2.0
    # from the video directly (segment + centerline in one command)
    assert main(["centerline", str(path), "--prompt", _prompt(v), "--method", "classical",
                 "-o", str(tmp_path / "cl2.csv")]) == 0  # fmt: skip


def test_velocity_from_tracks_does_not_call_a_moving_worm_still(avi, tmp_path, capsys):
    """From --tracks alone there is no head: the summary line said `15 frames (0 moving)` for a
    crawling worm, and `direction` was 0 ("still") in every frame; a moving frame's direction
    is now empty (unknown), a frame below --still-um-s still 0."""
    v, _ = avi
    mid = v.truth.centerline[:15, 50]
    tracks = pd.DataFrame({"neuron_id": 1, "frame": np.arange(15), "y": mid[:, 0], "x": mid[:, 1]})
    tracks.to_csv(tmp_path / "tracks.csv", index=False)
    capsys.readouterr()
    assert main(["velocity", "--stage", str(tmp_path / "stage.csv"), "--tracks",
                 str(tmp_path / "tracks.csv"), "--pixel-size", "10", "--fps", str(v.fps),
                 "--image-size", "160,160", "-o", str(tmp_path / "v.csv")]) == 0  # fmt: skip
    out = pd.read_csv(tmp_path / "v.csv")
    fast = int((out["speed_um_s"] >= 20).sum())
    assert fast > 0
    moving = out["speed_um_s"] >= 20
    assert out.loc[moving, "direction"].isna().all()
    assert out.loc[moving, "signed_speed_um_s"].isna().all()
    assert (out.loc[~moving, "direction"] == 0).all()
    text = (tmp_path / "v.csv").read_text().splitlines()
    assert {row.rsplit(",", 1)[1] for row in text[1:]} <= {"", "0"}  # never "0.0" or "nan"
    line = capsys.readouterr().out
    assert "0 moving" not in line
    assert f"({fast} at 20 um/s or more; direction unknown without a centerline)" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["segment", "{avi}", "--prompt", "3,3", "-o", "{out}"], "on background"),
        (["segment", "{avi}", "--prompt", "900,3", "-o", "{out}"], "outside the 160 x 160"),
        (["segment", "{bad}", "--prompt", "3,3", "-o", "{out}"], "cannot be decoded"),
        (["segment", "{avi}", "--prompt", "{p}", "--method", "sam", "--checkpoint", "{stage}",
          "-o", "{out}"], "not a PyTorch checkpoint"),
        (["velocity", "--stage", "{short}", "--centerline", "{cl}", "--pixel-size", "10",
          "--fps", "15", "-o", "{out}"], "rows but there are 15 frames"),
        (["centerline", "--masks", "{empty}", "-o", "{out}"], "every mask is empty"),
        (["centerline", "{avi}", "--masks", "{empty}", "--prompt", "{p}", "-o", "{out}"],
         "not both"),
    ],
)  # fmt: skip
def test_errors_are_one_line_and_write_nothing(avi, tmp_path, capsys, args, message):
    v, path = avi
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"RIFF" + bytes(200))
    pd.DataFrame({"stage_y_um": [0.0] * 4, "stage_x_um": 0.0}).to_csv(tmp_path / "short.csv")
    cl = tmp_path / "cl.csv"
    pts = np.stack([resample(c, 10) for c in v.truth.centerline[:15]])
    pd.DataFrame({"frame": np.repeat(np.arange(15), 10), "point": np.tile(np.arange(10), 15),
                  "y": pts[..., 0].ravel(), "x": pts[..., 1].ravel()}).to_csv(cl, index=False)  # fmt: skip
    from napari_catrack.io.masks import write_masks

    write_masks(tmp_path / "empty.tif", np.zeros((3, 20, 20), bool))
    out = tmp_path / "out.file"
    names = {"avi": path, "out": out, "bad": bad, "p": _prompt(v), "stage": tmp_path / "stage.csv",
             "short": tmp_path / "short.csv", "cl": cl, "empty": tmp_path / "empty.tif"}  # fmt: skip
    assert main([a.format(**names) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("catrack: error: ") and message in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert not out.exists() and not list(tmp_path.glob(".out.file*"))


@pytest.mark.parametrize("basis", ["{stage}", "{missing}", "{text}"])
def test_a_bad_eigenworm_basis_stops_before_any_work_or_writing(avi, tmp_path, capsys, basis):
    """`--eigenworms` was read only after the centerlines were computed and their CSV written:
    a bad basis left centerline.csv behind (exit 2) after all the work."""
    v, path = avi
    from napari_catrack.io.masks import write_masks

    masks = write_masks(tmp_path / "m.tif", v.truth.masks[:15])
    (tmp_path / "notes.txt").write_text("not a basis\n")
    names = {"stage": tmp_path / "stage.csv", "missing": tmp_path / "nope.mat",
             "text": tmp_path / "notes.txt"}  # fmt: skip
    out, post = tmp_path / "cl.csv", tmp_path / "post.csv"
    for source in (["--masks", str(masks)], [str(path), "--prompt", _prompt(v)]):
        args = ["centerline", *source, "-o", str(out), "--posture", str(post),
                "--eigenworms", basis.format(**names)]  # fmt: skip
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("catrack: error: ") and "eigenworm" in err[-1]
        assert not any("segmented" in line for line in err)  # stopped before segmenting
        assert not out.exists() and not post.exists()


def test_damaged_videos_are_read_as_far_as_they_go_and_say_so(tmp_path, capsys):
    """A truncated AVI gave exit 0 with fewer frames than its header declares and a half-grey
    last frame; an undecodable frame in the middle stopped the whole segmentation."""
    v = small_video(n_frames=30)
    path = write_video(tmp_path / "worm.avi", v.frames, fps=v.fps)
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "m.tif"
    assert main(["segment", str(cut), "--prompt", _prompt(v), "--method", "classical",
                 "-o", str(out)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "of the 30 the file declares" in err and "cut off" in err
    assert err.count("the file declares") == 1 and err.count("cut off") == 1  # once (review h10)
    n = len(read_masks(out))
    assert 5 < n < 15  # the frames that are whole, no half-decoded one
    # a damaged stretch in the middle: the later frames keep their numbers, the lost ones
    # are blank, listed, and the segmentation goes on
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pos = [p.pos for p in container.demux(stream) if p.size > 0]
    broken = bytearray(data)
    a, b = pos[12] + 100, pos[15] - 8  # frame 12's data and frames 13-14 are lost
    broken[a:b] = bytes(b - a)
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(broken))
    report = tmp_path / "q.csv"
    assert main(["segment", str(bad), "--prompt", _prompt(v), "--method", "classical",
                 "-o", str(out), "--report", str(report)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    masks = read_masks(out)
    assert len(masks) == 30
    blank = [t for t in range(30) if not masks[t].any()]
    assert set(blank) >= {13, 14} and set(blank) <= {12, 13, 14}
    assert "blank" in err and "13" in err
    quality = pd.read_csv(report)
    assert quality.set_index("frame").loc[blank, "low_confidence"].all()
    later = [t for t in range(16, 30)]
    assert np.median([iou(masks[t], v.truth.masks[t]) for t in later]) > 0.8  # not shifted


def test_segment_and_centerline_say_how_far_they_got(avi, tmp_path, capsys):
    """Review h10: `catrack segment` on a 20,000-frame AVI was silent for minutes (only the
    transients command printed progress); both commands now print every 10 % on stderr."""
    v, path = avi
    for command, out in (("segment", "m.tif"), ("centerline", "cl.csv")):
        assert main([command, str(path), "--prompt", _prompt(v), "--method", "classical",
                     "-o", str(tmp_path / out)]) == 0  # fmt: skip
        err = capsys.readouterr().err.splitlines()
        lines = [e for e in err if e.startswith(f"catrack {command}: segmentation:")]
        assert len(lines) >= 3, err
        assert lines[-1].startswith(f"catrack {command}: segmentation: 100%"), lines
    # from masks: the centerlines of 20,000 frames took 5 minutes without a word
    assert (
        main(["centerline", "--masks", str(tmp_path / "m.tif"), "-o", str(tmp_path / "c.csv")]) == 0
    )
    err = capsys.readouterr().err.splitlines()
    lines = [e for e in err if e.startswith("catrack centerline: centerlines:")]
    assert lines and lines[-1].startswith("catrack centerline: centerlines: 100%"), err


def test_centerline_session_records_what_the_posture_was_computed_with(avi, tmp_path):
    """Review h10: `catrack centerline --posture --eigenworms FILE --pixel-size UM --session`
    recorded neither the basis file (the widget records it as an input) nor the pixel size, both
    of which change the posture table stored beside it."""
    v, _ = avi
    from napari_catrack.core.behaviour.posture import fit_eigenworms
    from napari_catrack.io.masks import write_masks
    from napari_catrack.session import Session

    masks = write_masks(tmp_path / "m.tif", v.truth.masks[:15])
    basis = tmp_path / "basis.csv"
    np.savetxt(basis, fit_eigenworms(v.truth.centerline, k=4), delimiter=",")
    session = tmp_path / "s.catrack.h5"
    assert main(["centerline", "--masks", str(masks), "-o", str(tmp_path / "cl.csv"),
                 "--posture", str(tmp_path / "p.csv"), "--eigenworms", str(basis),
                 "--pixel-size", "10", "--session", str(session)]) == 0  # fmt: skip
    step = Session.load(session)["centerline"]
    assert step.attrs["inputs"]["eigenworms"]["path"] == str(basis)
    assert len(step.attrs["inputs"]["eigenworms"]["sha256"]) == 64
    assert step.attrs["posture"] == {"pixel_size_um": 10.0, "eigenworms": str(basis)}


def test_segment_into_a_session_of_another_video_says_it_replaces_that_one(avi, tmp_path, capsys):
    """Any session takes a behaviour video (the demo's holds an imaging recording), so a run on
    another video replaced the stored segmentation silently; now one warning line names it.
    "Another" is by content (size + SHA-256 the step recorded), not by path: a copy of the same
    video is the same video, a different video written at the same path is another."""
    import shutil

    v, path = avi
    copy = shutil.copy(path, tmp_path / "copy.avi")
    other = write_video(tmp_path / "other.avi", v.frames[1:16], fps=v.fps)  # 15 other frames
    session = tmp_path / "s.catrack.h5"
    args = ["--prompt", _prompt(v), "--method", "classical", "--session", str(session)]
    assert main(["segment", str(path), "-o", str(tmp_path / "a.tif"), *args]) == 0
    assert "another video" not in capsys.readouterr().err
    assert main(["segment", str(path), "-o", str(tmp_path / "b.tif"), *args]) == 0  # same video
    assert "another video" not in capsys.readouterr().err
    assert main(["segment", str(copy), "-o", str(tmp_path / "b2.tif"), *args]) == 0  # a copy
    assert "another video" not in capsys.readouterr().err
    assert main(["segment", str(other), "-o", str(tmp_path / "c.tif"), *args]) == 0
    err = capsys.readouterr().err
    assert "holds the segmentation of another video" in err and "copy.avi" in err
    assert "replaced by this run's of" in err and "other.avi" in err


def test_segment_warns_for_another_video_written_at_the_same_path(avi, tmp_path, capsys):
    """The session's video replaced by a different one under the same name: its masks are not
    of this video, so the warning is said although the path is the same."""
    v, path = avi
    session = tmp_path / "s.catrack.h5"
    args = ["--prompt", _prompt(v), "--method", "classical", "--session", str(session)]
    assert main(["segment", str(path), "-o", str(tmp_path / "a.tif"), *args]) == 0
    assert "another video" not in capsys.readouterr().err
    write_video(path, v.frames[2:17], fps=v.fps)  # another recording, same file name
    assert main(["segment", str(path), "-o", str(tmp_path / "b.tif"), *args]) == 0
    err = capsys.readouterr().err
    assert "holds the segmentation of another video" in err and "worm.avi" in err

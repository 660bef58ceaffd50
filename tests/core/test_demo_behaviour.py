"""The behaviour part of `catrack demo`: files, session steps and scores against the truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import tifffile

from napari_catrack.demo_behaviour import run_behaviour_demo
from napari_catrack.session import Session


def test_behaviour_demo_writes_everything_and_meets_its_truth(tmp_path):
    session = Session(tmp_path / "s.catrack.h5")
    summary = run_behaviour_demo(tmp_path / "behaviour", n_frames=120, seed=0, session=session,
                                 log=lambda _m: None)  # fmt: skip
    out = tmp_path / "behaviour"
    for name in ("behaviour.avi", "stage.csv", "masks.tif", "centerline.csv", "posture.csv",
                 "velocity.csv", "figures/behaviour_speed.png", "figures/behaviour_kymograph.svg",
                 "figures/behaviour_frames.png", "ground_truth/centerline.csv"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    assert summary["mask_iou_median"] > 0.92
    # the prompt docs/behaviour.md sends users to: a point on the worm in frame 0
    y, x = (int(v) for v in summary["prompt"].split(","))
    assert tifffile.imread(out / "masks.tif")[0, y, x]
    assert summary["centerline_error_median_px"] < 1.5
    assert summary["head_tail_flips"] <= 1
    assert summary["velocity_r"] > 0.9 and summary["direction_right_moving"] > 0.9
    velocity = pd.read_csv(out / "velocity.csv")
    # the bouts, scored against the planted schedule (h21): the one reversal planted in these
    # 8 s (ground_truth/behaviour.csv) is called within 0.5 s, nothing else is called a reversal
    bouts = pd.read_csv(out / "bouts.csv")
    truth = pd.read_csv(out / "ground_truth" / "behaviour.csv")
    rev = truth.state.eq("reverse")
    planted = truth.frame[rev & ~rev.shift(fill_value=False)].to_numpy()
    called = bouts.start_frame[bouts.state == "reversal"].to_numpy()
    assert len(planted) == 1 and len(called) == 1 and abs(called[0] - planted[0]) <= 7
    assert summary["reversal_onset_precision"] == summary["reversal_onset_recall"] == 1.0
    assert summary["reversals_called_planted"] == [1, 1] and summary["bouts"] == len(bouts)
    # pauses from the true motion (h22): the default worm is never still for 0.5 s
    assert summary["pauses_called_planted"] == [0, 0]
    assert list(velocity.columns) == ["frame", "time_s", "x_um", "y_um", "vy_um_s", "vx_um_s",
                                      "speed_um_s", "signed_speed_um_s", "direction"]  # fmt: skip
    session.save()
    steps = Session.load(tmp_path / "s.catrack.h5").steps
    assert {"segmentation", "centerline", "velocity", "bouts"} <= set(steps)
    pd.testing.assert_frame_equal(steps["bouts"].tables["bouts"], bouts, check_dtype=False,
                                  atol=1e-4)  # fmt: skip
    assert steps["bouts"].attrs["coiled"] is True
    assert steps["segmentation"].arrays["masks"].shape == (120, 256, 256)
    # the stage log is found again from the session (the Behaviour widget's velocity panel, the
    # NWB `stage` series): it was stored as "stage.csv", which names a file beside the session
    from napari_catrack.io.nwb_behaviour import _stage

    reopened = Session.load(tmp_path / "s.catrack.h5")
    assert Path(reopened.resolve_stored_path(steps["velocity"].attrs["stage"])) == out / "stage.csv"
    assert len(_stage(reopened, None)[0]) == 120
    # an export of the session writes the same files as the commands (h10: full precision)
    from napari_catrack.export import export_session

    export_session(session, tmp_path / "exp", ["behaviour:centerline", "behaviour:posture",
                                                "behaviour:velocity"])  # fmt: skip
    for name in ("centerline.csv", "posture.csv", "velocity.csv"):
        exported = (tmp_path / "exp" / "behaviour" / name).read_text()
        assert exported == (out / name).read_text(), name
    # the demo's behaviour figures are Export items too (the other demo figures were; these
    # were only files in the demo's folder), drawn from the session's own tables
    import numpy as np

    from napari_catrack.export.figures import build_figure
    from napari_catrack.export.items import available_items

    keys = {i.key: i.relative_path() for i in available_items(session)}
    assert keys["figure:behaviour_speed"] == "figures/behaviour_speed.svg"
    assert keys["figure:behaviour_kymograph"] == "figures/behaviour_kymograph.svg"
    result = export_session(session, tmp_path / "exp", ["figure:behaviour_speed",
                                                        "figure:behaviour_kymograph"])  # fmt: skip
    assert result.failed == []
    for name in ("behaviour_speed.svg", "behaviour_kymograph.svg"):
        assert (tmp_path / "exp" / "figures" / name).stat().st_size > 0
    speed = build_figure(session, "behaviour_speed").axes[0]
    line = next(ln for ln in speed.get_lines() if ln.get_label() == "measured")
    np.testing.assert_allclose(line.get_ydata(), velocity.signed_speed_um_s, atol=1e-3)
    strip = {c.get_label() for c in speed.collections}  # the session's bouts over the speed
    assert {"forward bouts", "reversal bouts"} <= strip
    kymo = build_figure(session, "behaviour_kymograph")
    image = kymo.axes[0].get_images()[0]
    assert image.get_array().shape == (pd.read_csv(out / "centerline.csv").point.nunique(), 120)
    left, right = image.get_extent()[:2]
    assert (left, right) == (0.0, pytest.approx(velocity.time_s.iloc[-1], abs=1e-3))
    assert kymo.axes[1].get_ylabel() == "curvature (1/µm)"  # the demo's pixel size was kept

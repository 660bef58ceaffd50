"""The behaviour part of `catrack demo`: files, session steps and scores against the truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
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
    assert list(velocity.columns) == ["frame", "time_s", "x_um", "y_um", "vy_um_s", "vx_um_s",
                                      "speed_um_s", "signed_speed_um_s", "direction"]  # fmt: skip
    session.save()
    steps = Session.load(tmp_path / "s.catrack.h5").steps
    assert {"segmentation", "centerline", "velocity"} <= set(steps)
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

"""The export layout: what a session lists, and the files one action writes (docs/export.md)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_catrack.cli import main
from napari_catrack.errors import Cancelled, InputError
from napari_catrack.export import available_items, export_session
from napari_catrack.io.sources import COMPONENT_COLUMNS

from ._session_helpers import two_photon_session, worm_session


@pytest.fixture(scope="module")
def worm(tmp_path_factory):
    session, _ = worm_session(tmp_path_factory.mktemp("export_worm"), video=False)
    session.record("alignment", attrs={"dy": 1.5, "dx": -0.5, "rotation_deg": 0.2}, save=False)
    session.record("settings", attrs={"fps": 10.0}, save=False)
    return session


def test_items_follow_the_documented_layout(worm):
    paths = {i.key: i.relative_path() for i in available_items(worm)}
    assert paths["session"] == "session.catrack.h5"
    assert paths["alignment"] == "align.json"
    for key in ("tracks", "traces", "transients", "cells", "verdicts"):
        assert paths[key] == f"{key}.csv"
    assert paths["behaviour:velocity"] == "behaviour/velocity.csv"
    assert paths["events:eta_significance"] == "events/eta_significance.csv"
    assert paths["figure:eta"] == "figures/eta.svg"
    # behaviour figures (as the demo draws them), listed when their step exists
    assert paths["figure:behaviour_speed"] == "figures/behaviour_speed.svg"
    assert paths["figure:behaviour_kymograph"] == "figures/behaviour_kymograph.svg"
    assert paths["velocity:stage"] == "velocity/stage.csv"  # a table without an entry is listed too
    assert paths["nwb"] == "session.nwb"
    assert not any(k.startswith("settings") for k in paths)


def test_export_writes_everything_in_one_action(worm, tmp_path):
    result = export_session(worm, tmp_path / "out", nwb_metadata={"subject": {"subject_id": "w"}})
    assert result.failed == []
    written = {str(p) for p in result.written}
    assert {
        "session.catrack.h5",
        "align.json",
        "tracks.csv",
        "figures/eta.svg",
        "session.nwb",
    } <= written
    out = tmp_path / "out"
    assert all((out / p).is_file() for p in written)
    tracks = pd.read_csv(out / "tracks.csv")  # in catrack track's format: 3 decimals
    pd.testing.assert_frame_equal(
        tracks, worm["tracks"].tables["tracks"], check_dtype=False, atol=5e-4, rtol=0
    )
    assert json.loads((out / "align.json").read_text())["dy"] == 1.5
    from napari_catrack.session import Session

    copy = Session.load(out / "session.catrack.h5")
    assert set(copy.steps) == set(worm.steps) and worm.path != out / "session.catrack.h5"
    assert "1 file" not in result.summary() and "written to" in result.summary()


def test_formats_and_selection(worm, tmp_path):
    result = export_session(
        worm, tmp_path, {"traces": "xlsx", "cells": "h5", "figure:traces": "pdf"}
    )
    assert sorted(map(str, result.written)) == ["cells.h5", "figures/traces.pdf", "traces.xlsx"]
    back = pd.read_excel(tmp_path / "traces.xlsx")
    np.testing.assert_allclose(back["dff"], worm["traces"].tables["traces"]["dff"])
    with h5py.File(tmp_path / "cells.h5") as f:
        assert "cells" in f
    assert (tmp_path / "figures" / "traces.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(InputError, match="holds no 'ensembles"):
        export_session(worm, tmp_path, ["ensembles:ensemble_events"])
    with pytest.raises(InputError, match="format 'png' is not one of"):
        export_session(worm, tmp_path, {"tracks": "png"})


def test_a_failing_item_is_reported_not_fatal(worm, tmp_path):
    blocker = tmp_path / "figures"
    blocker.write_text("a file where the figures folder should be")
    result = export_session(worm, tmp_path, ["tracks", "figure:traces"])
    assert [str(p) for p in result.written] == ["tracks.csv"]
    assert result.failed and result.failed[0][0] == "Traces of the first neurons"


def test_a_cancelled_export_says_what_it_wrote(worm, tmp_path):
    asks = iter([False, False, True])  # cancel before the third file
    with pytest.raises(Cancelled) as info:
        export_session(worm, tmp_path, ["tracks", "traces", "cells"], cancel=lambda: next(asks))
    assert "after 2 of 3 file(s) were written" in str(info.value)
    assert "partial export" in str(info.value)
    assert "previous result is kept" not in str(info.value)
    assert sorted(map(str, info.value.result.written)) == ["traces.csv", "tracks.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traces.csv", "tracks.csv"]
    with pytest.raises(Cancelled, match="before any file was written"):
        export_session(worm, tmp_path / "none", ["tracks"], cancel=lambda: True)


def test_two_photon_arrays(tmp_path):
    session, footprints = two_photon_session(tmp_path / "s")
    session.record("summary", arrays={"mean": np.ones((4, 5), np.float32)}, save=False)
    session.record("segmentation", arrays={"masks": np.ones((3, 4, 5), np.uint8),
                                           "painted_2": np.ones((4, 5), np.uint8)}, save=False)  # fmt: skip
    keys = {i.key for i in available_items(session)}
    assert {"sources:footprints", "two_photon:summary:mean", "behaviour:masks"} <= keys
    assert not any("painted" in k or "figure:behaviour" in k for k in keys)  # no behaviour steps
    export_session(
        session,
        tmp_path / "o",
        ["sources:footprints", "two_photon:summary:mean", "behaviour:masks"],
    )
    with h5py.File(tmp_path / "o" / "sources" / "footprints.h5") as f:
        np.testing.assert_allclose(f["footprints"][()], footprints, rtol=1e-6)
    assert tifffile.imread(tmp_path / "o" / "two_photon" / "summary" / "mean.tif").shape == (4, 5)
    assert tifffile.imread(tmp_path / "o" / "behaviour" / "masks.tif").shape == (3, 4, 5)


def test_a_stack_of_three_or_four_images_is_exported_as_grey_pages_not_rgb(tmp_path):
    session, _ = two_photon_session(tmp_path / "s")
    stacks = {"three": np.arange(60, dtype=np.uint16).reshape(3, 4, 5),
              "four": np.arange(80, dtype=np.float32).reshape(4, 4, 5)}  # fmt: skip
    session.record("custom", arrays=stacks, save=False)
    export_session(session, tmp_path / "o", ["custom:three", "custom:four"])
    for name, array in stacks.items():
        with tifffile.TiffFile(tmp_path / "o" / "custom" / f"{name}.tif") as tif:
            assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK
            np.testing.assert_array_equal(tif.asarray(), array)


def test_export_command(worm, tmp_path, capsys):
    worm.save(tmp_path / "s.catrack.h5")
    assert main(["export", str(tmp_path / "s.catrack.h5"), "--list"]) == 0
    assert "tracks.csv" in capsys.readouterr().out
    rc = main(["export", str(tmp_path / "s.catrack.h5"), "-o", str(tmp_path / "o"),
               "--items", "tracks,cells", "--table-format", "xlsx"])  # fmt: skip
    assert rc == 0 and (tmp_path / "o" / "cells.xlsx").is_file()
    assert main(["export", str(tmp_path / "s.catrack.h5")]) == 2


def test_export_command_never_writes_over_its_session(worm, tmp_path, capsys):
    out = tmp_path / "o"
    worm.save(out / "tracks.h5")  # the session, named like an exported table
    before = (out / "tracks.h5").read_bytes()
    rc = main(["export", str(out / "tracks.h5"), "-o", str(out), "--items", "tracks,cells",
               "--table-format", "h5"])  # fmt: skip
    assert rc == 2
    assert "would write tracks.h5 over the input SESSION" in capsys.readouterr().err
    assert (out / "tracks.h5").read_bytes() == before and not (out / "cells.h5").exists()
    worm.save(out / "session.catrack.h5")  # where the export puts it: saved in place
    for _ in range(2):  # and exporting again updates the folder
        assert main(["export", str(out / "session.catrack.h5"), "-o", str(out)]) == 0
    assert (out / "traces.csv").is_file()


def test_export_never_writes_into_a_tiff_folder_recording(tmp_path, capsys):
    """The recording is a folder of TIFFs read as one movie: exporting into it is refused before
    anything is written, by the CLI and by the check the Export widget shares with it."""
    from napari_catrack.export import check_export_outputs
    from napari_catrack.session import Session

    frames = tmp_path / "rec"
    frames.mkdir()
    for i in range(3):
        tifffile.imwrite(frames / f"f{i}.tif", np.full((8, 8), i, dtype=np.uint16))
    before = {p.name: p.read_bytes() for p in frames.iterdir()}
    session = Session(tmp_path / "s.catrack.h5")
    session.set_recording(str(frames), {}, {})
    session.save()
    assert main(["export", str(session.path), "-o", str(frames)]) == 2
    err = capsys.readouterr().err
    assert "is the input recording of SESSION, a folder whose frame files" in err
    with pytest.raises(InputError, match="export folder .* is the input recording of SESSION"):
        check_export_outputs(session, frames, label="export folder")
    assert {p.name: p.read_bytes() for p in frames.iterdir()} == before


def test_exported_components_say_each_cells_verdict_and_why(tmp_path):
    """sources/components.csv carries the verdict the Sources widget shows and its whole reason
    (the evaluation's `accepted`/`reason` alone missed a cell rejected or deleted by hand)."""
    from napari_catrack.core.sources.session import DELETED, set_verdict

    session, _ = two_photon_session(tmp_path / "s")
    comps = session["sources"].tables["components"]
    if "reason" not in comps:  # as `catrack sources` stores it: `reason` before `accepted`
        comps.insert(list(comps.columns).index("accepted"), "reason", "")
    long_reason = "two cells merged into one footprint; the upper one fires alone at 12 s and 40 s"
    set_verdict(session, 2, "rejected", long_reason)
    set_verdict(session, 4, "rejected", DELETED)
    export_session(session, tmp_path / "o", ["sources:components"])
    table = pd.read_csv(tmp_path / "o" / "sources" / "components.csv", keep_default_na=False)
    by_id = table.set_index("neuron_id")
    assert list(by_id["verdict"]) == ["accepted", "rejected", "rejected", "rejected"]
    assert by_id.loc[2, "verdict_reason"] == long_reason
    assert by_id.loc[3, "verdict_reason"] == "auto: low snr"
    assert by_id.loc[4, "verdict_reason"] == DELETED
    assert by_id.loc[1, "verdict_reason"] == ""
    assert bool(by_id.loc[4, "accepted"])  # the evaluation's own columns are kept as they were
    # in the order `catrack sources` writes (the CLI contract's columns first), not the
    # session's: the export put `reason` before `accepted`
    assert list(table.columns) == [*COMPONENT_COLUMNS, "reason", "verdict", "verdict_reason"]


def test_velocity_export_is_the_file_catrack_velocity_writes(tmp_path, capsys):
    """The same velocity gives the same velocity.csv from `catrack velocity` and from an export
    of its session (the export wrote every float in full precision, the command with 4 decimals)."""
    n, fps = 40, 10.0
    t = np.arange(n) / fps
    rng = np.random.default_rng(1)
    body = np.stack([np.linspace(20, 60, 12), np.full(12, 50.0)], axis=1)  # head first
    rows = [(f, p, y + 0.37 * f + rng.normal(0, 0.01), x) for f in range(n)
            for p, (y, x) in enumerate(body)]  # fmt: skip
    pd.DataFrame(rows, columns=["frame", "point", "y", "x"]).to_csv(
        tmp_path / "cl.csv", index=False
    )
    pd.DataFrame({"frame": np.arange(n), "time_s": t, "stage_y_um": 3.3 * t ** 2,
                  "stage_x_um": np.sin(t) / 7}).to_csv(tmp_path / "stage.csv", index=False)  # fmt: skip
    session = tmp_path / "s.catrack.h5"
    assert main(["velocity", "--stage", str(tmp_path / "stage.csv"), "--centerline",
                 str(tmp_path / "cl.csv"), "--pixel-size", "3.7", "--fps", str(fps),
                 "--image-size", "80,100", "-o", str(tmp_path / "velocity.csv"),
                 "--session", str(session)]) == 0  # fmt: skip
    assert main(["export", str(session), "-o", str(tmp_path / "exp")]) == 0
    command = (tmp_path / "velocity.csv").read_text()
    assert (tmp_path / "exp" / "behaviour" / "velocity.csv").read_text() == command
    times = [line.split(",")[1] for line in command.splitlines()[1:]]
    assert all(len(v.split(".")[1]) == 4 for v in times), times[:3]  # 4 decimals, every row


def test_no_item_title_calls_a_ratio_recording_df_over_f():
    """The Export widget lists these titles for every recording; on a two-channel recording the
    traces are ΔR/R₀ (the figures' own axes say so), and the list said dF/F or ΔF/F there (h17
    walk). A title names either both or neither."""
    from napari_catrack.export.figures import FIGURES
    from napari_catrack.export.layout import TABLES

    titles = [label for _path, label in TABLES.values()] + [f.label for f in FIGURES]
    for title in titles:
        says_f = "F/F" in title
        assert not says_f or "R/R" in title, title


def test_an_empty_array_is_no_export_item_and_writes_no_empty_tiff(tmp_path, recwarn):
    """An ensembles run that found no event stores a 0 x 0 similarity matrix: the export listed
    it as `ensembles/similarity.tif` and tifffile wrote a zero-size, nonconformant TIFF with a
    `catrack export: warning: <tifffile.TiffWriter '.similarity.tif....partial'> writing
    zero-size array to nonconformant TIFF` line (SIMA's 20-frame movie, h19 walk)."""
    session, _ = two_photon_session(tmp_path / "s")
    session.record("ensembles", arrays={"similarity": np.zeros((0, 0))}, save=False)
    session.record("summary", arrays={"mean": np.ones((4, 5), np.float32)}, save=False)
    keys = {i.key for i in available_items(session)}
    assert "ensembles:similarity" not in keys
    assert "two_photon:summary:mean" in keys  # a non-empty array still is one
    export_session(session, tmp_path / "o")
    assert not (tmp_path / "o" / "ensembles" / "similarity.tif").exists()
    assert not [w for w in recwarn if "zero-size" in str(w.message)]


def test_export_figures_leave_out_the_rejected_cells(tmp_path):
    """As the curation widget's figures do (docs/curation.md): on SIMA's movie `catrack sources`
    rejects 113 of 164 components, and the export's traces, heat map and transient figures
    drew them all, a rejected component's dF (in the thousands) setting the scales."""
    from napari_catrack.core.transients import empty_table
    from napari_catrack.core.transients.params import TransientParams
    from napari_catrack.core.transients.records import record_transients
    from napari_catrack.export.figures import build_figure

    session, _ = two_photon_session(tmp_path / "s")  # cell 3 rejected ("auto: low snr")
    rows = empty_table().reindex(range(2))
    rows = rows.assign(neuron_id=[1, 3], start_frame=[10, 20], peak_frame=[12, 22],
                       end_frame=[15, 25], peak_amplitude=[0.5, 0.9])  # fmt: skip
    record_transients(session, rows, None, TransientParams(), fps=session.frame_rate(), save=False)

    fig = build_figure(session, "transients_traces")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["1", "2", "4"]
    assert "1 in 3 neurons" in fig.axes[0].get_title()
    assert "1 rejected cell left out" in fig.axes[0].get_title()  # the tables keep it: say so
    amps = build_figure(session, "transients_amplitudes").axes[0].get_title()
    assert "n = 1" in amps
    raster = build_figure(session, "transients_raster").axes[0]
    assert [t.get_text() for t in raster.get_yticklabels()] == ["1", "2", "4"]
    heat = build_figure(session, "traces_heatmap").axes[0].images[0].get_array()
    assert heat.shape[0] == 3
    lines = build_figure(session, "traces").axes[0].get_legend_handles_labels()[1]
    assert "3" not in lines and "1" in lines


def test_the_exported_kymograph_of_a_straight_worm_looks_flat(tmp_path):
    """figures/behaviour_kymograph (Export, the demo): a straight worm's curvature, rounding noise
    (±3e-17), set the colour limits and showed as full-scale stripes. The limits are at least
    1/body length (h19), as the Behaviour plot draws them."""
    from napari_catrack.core.behaviour.posture import median_length
    from napari_catrack.core.behaviour.records import centerline_from_session
    from napari_catrack.export.figures import _behaviour_kymograph

    session, _ = worm_session(tmp_path / "s", video=False)
    result = centerline_from_session(session)[0]
    length = median_length(result.points, result.posture_ok)
    assert 20 < length < 2000
    image = _behaviour_kymograph(session).axes[0].images[0]
    curvature = np.abs(image.get_array().compressed())
    assert curvature.max() < 1e-12  # the test worm is straight
    assert image.norm.vmax == pytest.approx(1.0 / length)  # was 3e-17: noise at full scale

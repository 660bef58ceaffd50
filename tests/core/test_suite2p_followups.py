"""suite2p import follow-ups (session 18): a plane alone timed in the NWB export as in time_s,
redcell.npy in the NWB file, the red channel's traces
(F_chan2.npy), a drawn cell's verdict and the verdicts of a plane imported alone before
session 17 (plane-local ids) never moved onto another cell.

The folders are built in tmp_path from the real suite2p 0.14.6 output of tests/data
(`test_suite2p_volume.real_planes`: plane0 copied to three planes, F and Fneu x 1 + p / 10)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.errors import InputError
from napari_catrack.io.sources import read_sources
from napari_catrack.io.suite2p import read_suite2p
from tests.core.test_suite2p_volume import FS, K, real_planes

LATE = 1 / (3 * FS)  # plane 1 of a 3-plane volume at 30 Hz: 11.1 ms after plane 0


def _session_with_transients(tmp_path, args: list[str], name: str = "s"):
    """`catrack import suite2p ARGS --session`, then k-sigma transients recorded in it."""
    from napari_catrack.core.sources.session import sources_from_session
    from napari_catrack.core.transients import TransientParams, cell_table, detect_transients
    from napari_catrack.core.transients.records import record_transients
    from napari_catrack.session import Session

    path = tmp_path / f"{name}.catrack.h5"
    assert main(["import", "suite2p", *args, "-o", str(tmp_path / f"{name}_cells"), "--session", str(path)]) == 0  # fmt: skip
    session = Session.load(path)
    res = sources_from_session(session)
    ids = [str(i) for i in res.components["neuron_id"]]
    table = detect_transients(res.dff, FS, "ksigma", ids, TransientParams())
    record_transients(session, table, cell_table(table, ids, res.dff.shape[1], FS), TransientParams(), fps=FS)  # fmt: skip
    assert len(table)
    return session, table


def test_a_plane_imported_alone_is_timed_in_the_nwb_export_as_in_time_s(tmp_path):
    """`--plane 1` keeps plane 1's offset in time_s (11.1 ms at 3 planes x 30 Hz), but the NWB
    export started its series at 0 and timed its transients at frame / fs: only a multi-plane
    export applied the offsets."""
    pynwb = pytest.importorskip("pynwb")
    from napari_catrack.io.nwb import write_nwb

    from ._session_helpers import NWB_METADATA, inspect_problems

    root = real_planes(tmp_path / "s2p")
    session, table = _session_with_transients(tmp_path, [str(root), "--plane", "1"])
    traces = session["traces"].tables["traces"]
    first = traces[traces["frame"] == 0]["time_s"].to_numpy()
    np.testing.assert_allclose(first, LATE)  # the session's own clock for these cells
    out = write_nwb(session, tmp_path / "p1.nwb", metadata=NWB_METADATA)
    assert inspect_problems(out) == []
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        for container, name in (("Fluorescence", "raw"), ("DfOverF", "dff")):
            s = nwb.processing["ophys"][container].roi_response_series[name]
            assert s.starting_time == pytest.approx(LATE) and s.rate == FS
            assert "after plane 0" in s.description
        got = nwb.intervals["transients"].to_dataframe()
    want = table.sort_values(["start_frame", "neuron_id"])
    np.testing.assert_allclose(got["peak_time"], want["peak_frame"].to_numpy() / FS + LATE)
    np.testing.assert_allclose(got["start_time"], want["start_frame"].to_numpy() / FS + LATE)


def test_red_verdicts_are_written_to_the_nwb_plane_segmentations(tmp_path):
    """redcell.npy's red_cell / red_prob were in components.csv and the session, not in the NWB
    file: now PlaneSegmentation columns with descriptions (NaN for a plane without the file)."""
    pynwb = pytest.importorskip("pynwb")
    from napari_catrack.io.nwb import write_nwb

    from ._session_helpers import NWB_METADATA, inspect_problems

    root = real_planes(tmp_path / "s2p")
    rng = np.random.default_rng(1)
    red = {}
    for p in (0, 1):
        prob = rng.uniform(0, 1, K)
        red[p] = np.column_stack([prob > 0.5, prob])
        np.save(root / "suite2p" / f"plane{p}" / "redcell.npy", red[p])
    for args, name in (([str(root)], "all"), ([str(root), "--plane", "1"], "one")):
        session, _ = _session_with_transients(tmp_path, args, name)
        out = write_nwb(session, tmp_path / f"{name}.nwb", metadata=NWB_METADATA)
        assert inspect_problems(out) == []
        with pynwb.NWBHDF5IO(str(out), "r") as io:
            segs = io.read().processing["ophys"]["ImageSegmentation"].plane_segmentations
            planes = {0: "PlaneSegmentation_plane0", 1: "PlaneSegmentation_plane1", 2: "PlaneSegmentation_plane2"} if name == "all" else {1: "PlaneSegmentation"}  # fmt: skip
            for p, seg_name in planes.items():
                seg = segs[seg_name]
                assert "redcell.npy" in seg["red_cell"].description and "probability" in seg["red_prob"].description  # fmt: skip
                cell = np.asarray(seg["red_cell"].data[:], float)
                prob = np.asarray(seg["red_prob"].data[:], float)
                if p in red:
                    np.testing.assert_array_equal(cell, red[p][:, 0])
                    np.testing.assert_allclose(prob, red[p][:, 1])
                else:
                    assert np.isnan(cell).all() and np.isnan(prob).all()
    # one plane, all with redcell.npy: red_cell stays boolean
    with pynwb.NWBHDF5IO(str(tmp_path / "one.nwb"), "r") as io:
        seg = io.read().processing["ophys"]["ImageSegmentation"].plane_segmentations["PlaneSegmentation"]  # fmt: skip
        assert np.asarray(seg["red_cell"].data[:]).dtype == bool


def test_the_red_channels_traces_are_imported_from_f_chan2(tmp_path, capsys):
    """A two-channel run's F_chan2.npy / Fneu_chan2.npy were not read: now the traces' red
    (F_chan2 - c x Fneu_chan2, the plane's coefficient), red_raw and red_bg, in traces.csv, the
    session (kept through a re-evaluation) and the NWB export's red series; dff stays green's."""
    pynwb = pytest.importorskip("pynwb")
    from napari_catrack.core.sources.session import record_sources, sources_from_session
    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.session import Session

    from ._session_helpers import NWB_METADATA

    root = real_planes(tmp_path / "s2p")
    rng = np.random.default_rng(2)
    chan2 = {}
    for p in (0, 1):
        folder = root / "suite2p" / f"plane{p}"
        f2 = rng.uniform(200, 400, (K, 300)).astype(np.float32)
        n2 = rng.uniform(50, 100, (K, 300)).astype(np.float32)
        np.save(folder / "F_chan2.npy", f2)
        np.save(folder / "Fneu_chan2.npy", n2)
        chan2[p] = (f2, n2)
    coeff = float(np.load(root / "suite2p" / "plane0" / "ops.npy", allow_pickle=True).item()["neucoeff"])  # fmt: skip
    path = tmp_path / "s.catrack.h5"
    assert main(["import", "suite2p", str(root), "-o", str(tmp_path / "cells"), "--session", str(path)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "plane2 has no F_chan2.npy: the red traces are empty (NaN)" in err, err
    files = read_sources(tmp_path / "cells")
    session = Session.load(path)
    for traces in (files.traces, session["traces"].tables["traces"]):
        comps = files.components
        for p in (0, 1, 2):
            for roi in (0, K - 1):
                nid = int(comps.loc[(comps["plane"] == p) & (comps["plane_roi"] == roi), "neuron_id"].iloc[0])  # fmt: skip
                mine = traces[traces["neuron_id"].astype(int) == nid].sort_values("frame")
                if p == 2:
                    assert mine[["red", "red_raw", "red_bg"]].isna().all().all()
                    continue
                f2, n2 = chan2[p]
                np.testing.assert_allclose(mine["red"], f2[roi] - coeff * n2[roi], rtol=1e-5)
                np.testing.assert_allclose(mine["red_raw"], f2[roi], rtol=1e-5)
                np.testing.assert_allclose(mine["red_bg"], coeff * n2[roi], rtol=1e-5)
                assert not np.allclose(mine["dff"], mine["red"])  # dff is not made of red
    # re-judged in place (the Sources widget): the red columns stay
    res = sources_from_session(session)
    record_sources(session, replace(res, components=res.components), origin="re-evaluated")
    assert session["traces"].tables["traces"]["red"].notna().sum() == 2 * K * 300
    out = write_nwb(session, tmp_path / "s.nwb", metadata=NWB_METADATA)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        series = io.read().processing["ophys"]["Fluorescence"].roi_response_series
        np.testing.assert_allclose(np.asarray(series["red_plane0"].data[:])[:, 0], chan2[0][0][0] - coeff * chan2[0][1][0], rtol=1e-5)  # fmt: skip
        assert "F_chan2" in series["red_plane0"].description
        assert "alignment" not in series["red_plane0"].description  # no tracked channel
    # F_chan2 of another run: one line, nothing written
    np.save(root / "suite2p" / "plane1" / "F_chan2.npy", np.ones((K, 299), np.float32))
    assert main(["import", "suite2p", str(root), "-o", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "F_chan2.npy is (10, 299)" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()
    # without F_chan2.npy: no red column
    assert "red" not in read_suite2p(root / "suite2p" / "plane2").traces_table()


def test_a_drawn_cells_verdict_does_not_pass_to_an_imported_cell_with_its_id(tmp_path):
    """A cell drawn by hand on a multi-plane import (no plane) got the next id, 30; re-imported
    after a plane gained a ROI, id 30 is a suite2p cell, and the drawn cell's verdict landed on
    it. The drawn cell is gone with the re-import: its verdict goes with it."""
    from napari_catrack.core.sources.session import SOURCES_STEP, _moved_ids
    from napari_catrack.session import Session

    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    old = pd.DataFrame({"neuron_id": [0, 1, 2, 3], "plane": [0, 0, 1, np.nan],
                        "plane_roi": [0, 1, 0, np.nan]})  # fmt: skip
    session.record(SOURCES_STEP, tables={"components": old})
    new = pd.DataFrame({"neuron_id": [0, 1, 2, 3], "plane": [0, 0, 0, 1], "plane_roi": [0, 1, 2, 0]})  # fmt: skip
    assert _moved_ids(session, new) == {"0": "0", "1": "1", "2": "3", "3": None}
    # the same cells edited in place (the drawn one still without a place): it keeps its id
    assert _moved_ids(session, old)["3"] == "3"


def _pre_h17_plane(root, plane: int):
    """What `--plane N` imported before session 17: ids 0..K-1 within the plane, no plane,
    plane_roi or time_offset_s column, nothing about the plane in the provenance."""
    res = read_suite2p(root, plane=plane, plane_offsets=False)
    comps = res.components.drop(columns=["plane", "plane_roi"]).assign(neuron_id=np.arange(K))
    return replace(res, components=comps, made_with={})


def _hand_verdicts(session) -> dict:
    from napari_catrack.core.sources.session import read_verdicts

    v = read_verdicts(session)
    return {r.neuron_id: r.status for r in v.itertuples() if not r.reason.startswith("auto: ")}


def test_verdicts_of_a_plane_imported_alone_before_session_17_follow_their_cells(tmp_path):
    """Such a session numbered plane 1's cells 0..9; re-imported (every plane, or --plane 1),
    plane 1's cells are 10..19 and ids 1 and 3 are plane 0's: the verdicts went by id to the
    wrong cells. The session is told by its provenance (no `plane` recorded) and its cells found
    by footprint (and traces, the planes' footprints being copies here)."""
    from napari_catrack.core.sources.session import record_sources, set_verdict
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p")
    for again, want in ((None, {"11": "rejected", "13": "accepted"}), (1, {"11": "rejected", "13": "accepted"})):  # fmt: skip
        session = Session(tmp_path / f"s{again}.catrack.h5", autosave=False)
        record_sources(session, _pre_h17_plane(root, 1), origin="suite2p")
        assert "plane" not in session["sources"].params["import"]
        set_verdict(session, 1, "rejected", "two cells")  # plane 1, row 1
        set_verdict(session, 3, "accepted", "looked at it")  # plane 1, row 3
        record_sources(session, read_suite2p(root, plane=again), origin="suite2p")
        assert _hand_verdicts(session) == want
        comps = session["sources"].tables["components"].set_index("neuron_id")
        assert [tuple(comps.loc[int(i), ["plane", "plane_roi"]]) for i in sorted(want)] == [(1, 1), (1, 3)]  # fmt: skip
    # footprints stored at another scale (an older version's normalisation): still its cells
    old = _pre_h17_plane(root, 1)
    session = Session(tmp_path / "scaled.catrack.h5", autosave=False)
    record_sources(session, replace(old, footprints=old.footprints.scaled(np.full(K, 3.0))), origin="suite2p")  # fmt: skip
    set_verdict(session, 5, "rejected", "dendrite")
    record_sources(session, read_suite2p(root), origin="suite2p")
    assert _hand_verdicts(session) == {"15": "rejected"}
    # plane 0 alone (or a single-plane output): its ids were already the same
    session = Session(tmp_path / "p0.catrack.h5", autosave=False)
    record_sources(session, _pre_h17_plane(root, 0), origin="suite2p")
    set_verdict(session, 4, "rejected", "dendrite")
    record_sources(session, read_suite2p(root), origin="suite2p")
    assert _hand_verdicts(session) == {"4": "rejected"}


def _shrink_every_roi(root) -> None:
    """A suite2p re-run of `real_planes`' three planes whose every ROI is one pixel smaller."""
    for p in range(3):
        folder = root / "suite2p" / f"plane{p}"
        stat = np.load(folder / "stat.npy", allow_pickle=True)
        for s in stat:
            for key in ("ypix", "xpix", "lam"):
                s[key] = np.asarray(s[key])[:-1]
        np.save(folder / "stat.npy", stat, allow_pickle=True)


def test_a_pre_session_17_plane_that_cannot_be_told_is_refused(tmp_path, capsys):
    """When no plane of the new import has the session's cells (the suite2p output re-run), its
    hand verdicts cannot be placed: the import stops with one line and writes nothing, the
    session keeps its verdicts. Without hand verdicts there is nothing to misplace: imported."""
    from napari_catrack.core.sources.session import record_sources, set_verdict
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p")
    path = tmp_path / "s.catrack.h5"
    session = Session(path, autosave=False)
    record_sources(session, _pre_h17_plane(root, 2), origin="suite2p")
    set_verdict(session, 2, "rejected", "two cells")
    session.save()
    _shrink_every_roi(root)  # re-run: every ROI one pixel smaller
    out = tmp_path / "cells"
    assert main(["import", "suite2p", str(root), "-o", str(out), "--session", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "imported from one suite2p plane before session 17" in err
    assert "cannot be told: no plane of this import has most of its cells' footprints" in err
    assert "1 hand verdict(s) (cell(s) 2)" in err
    assert not out.exists()
    kept = Session.load(path)
    assert _hand_verdicts(kept) == {"2": "rejected"} and "plane" not in kept["sources"].tables["components"]  # fmt: skip
    with pytest.raises(InputError, match="which plane cannot be told"):
        record_sources(kept, read_suite2p(root), origin="suite2p")
    # no hand verdict: nothing to misplace
    fresh = Session(tmp_path / "f.catrack.h5", autosave=False)
    record_sources(fresh, _pre_h17_plane(root, 2), origin="suite2p")
    record_sources(fresh, read_suite2p(root), origin="suite2p")
    assert len(fresh["sources"].tables["components"]) == 3 * K


def test_a_plane_folder_given_is_recorded_as_that_plane(tmp_path):
    """Giving planeN/ imports plane N alone, but the provenance said plane "all"."""
    root = real_planes(tmp_path / "s2p")
    assert read_suite2p(root / "suite2p" / "plane1").made_with["plane"] == 1
    assert read_suite2p(root, plane=2).made_with["plane"] == 2
    assert read_suite2p(root).made_with["plane"] == "all"


def _draw_a_cell(session, nid: int = 99, reshape: int | None = None, tool: str | None = None):
    """Fit a cell drawn by hand ("Fit drawn/edited cells") at the top right of a 300-frame
    movie made of the session's cells (footprint x raw trace) and a blob firing every second
    there, recorded as the widget records it; `reshape`: also cell `reshape` grown by a pixel."""
    from scipy import ndimage

    from napari_catrack.core.sources.refit import refit_components
    from napari_catrack.core.sources.session import (
        label_offset,
        labels_from_footprints,
        record_sources,
        sources_from_session,
    )

    res = sources_from_session(session)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    blob = np.exp(-((yy - 5) ** 2 + (xx - 58) ** 2) / 8)
    fires = np.zeros(300)
    fires[::30] = 5
    fires = np.convolve(fires, np.exp(-np.arange(30) / 8))[:300]
    cells = np.asarray(res.footprints.matrix @ np.nan_to_num(res.raw)).T.reshape(300, 64, 64)
    movie = (100 + cells + rng.normal(0, 1, (300, 64, 64)) + 50 * fires[:, None, None] * blob).astype(np.float32)  # fmt: skip
    masks = {nid: (yy - 5) ** 2 + (xx - 58) ** 2 <= 9}
    if reshape is not None:
        ids = res.components["neuron_id"]
        labels = labels_from_footprints(res.footprints, ids)
        masks[reshape] = ndimage.binary_dilation(labels == reshape + label_offset(ids))
    out = refit_components(movie, res, masks, tool=tool)
    record_sources(session, out, origin="edited")
    return out


def test_a_cell_drawn_on_a_plane_imported_alone_is_timed_as_the_plane(tmp_path):
    """A cell drawn on a `--plane 1` import had no time offset (NaN): its time_s was frame / fs,
    11.1 ms before the plane's, and the NWB export, finding two offsets, started every series
    at 0. The drawn cell is plane 1's (drawn on its movie): timed as its cells, in time_s and NWB;
    plane_roi (a row in suite2p's files) stays empty."""
    pynwb = pytest.importorskip("pynwb")
    from napari_catrack.io.nwb import write_nwb

    from ._session_helpers import NWB_METADATA, inspect_problems

    root = real_planes(tmp_path / "s2p")
    session, _ = _session_with_transients(tmp_path, [str(root), "--plane", "1"])
    _draw_a_cell(session)
    comps = session["sources"].tables["components"].set_index("neuron_id")
    assert comps.loc[99, "plane"] == 1 and comps.loc[99, "time_offset_s"] == pytest.approx(LATE)
    assert np.isnan(comps.loc[99, "plane_roi"])
    assert pd.api.types.is_integer_dtype(comps["plane"])  # 1, not 1.0, in components.csv (h20)
    traces = session["traces"].tables["traces"]
    np.testing.assert_allclose(traces[traces["neuron_id"] == 99].sort_values("frame")["time_s"], np.arange(300) / FS + LATE)  # fmt: skip
    out = write_nwb(session, tmp_path / "drawn.nwb", metadata=NWB_METADATA)
    assert inspect_problems(out) == []
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        for container, name in (("Fluorescence", "raw"), ("DfOverF", "dff")):
            s = nwb.processing["ophys"][container].roi_response_series[name]
            assert s.starting_time == pytest.approx(LATE) and s.data.shape == (300, K + 1)


def test_an_older_sessions_drawn_cell_without_an_offset_is_exported_at_the_planes_time(tmp_path):
    """A session whose drawn cell was recorded before h19 (time_offset_s NaN): the NWB series
    and its transients are at the plane's time, not at 0 (one series has one start)."""
    pynwb = pytest.importorskip("pynwb")
    from napari_catrack.core.transients.records import record_transients
    from napari_catrack.io.nwb import write_nwb

    from ._session_helpers import NWB_METADATA

    root = real_planes(tmp_path / "s2p")
    session, table = _session_with_transients(tmp_path, [str(root), "--plane", "1"])
    _draw_a_cell(session)
    rec = session["sources"]
    comps = rec.tables["components"].copy()
    comps.loc[comps["neuron_id"] == 99, ["plane", "time_offset_s"]] = np.nan  # as h18 left it
    session.record("sources", tables={"components": comps}, arrays=dict(rec.arrays), attrs=dict(rec.attrs), params=rec.params)  # fmt: skip
    drawn = table.iloc[:1].assign(neuron_id=99, transient_id=len(table))  # a transient of cell 99
    from napari_catrack.core.transients import TransientParams, cell_table

    both = pd.concat([table, drawn], ignore_index=True)
    ids = [str(i) for i in comps["neuron_id"]]
    record_transients(session, both, cell_table(both, ids, 300, FS), TransientParams(), fps=FS)
    out = write_nwb(session, tmp_path / "old.nwb", metadata=NWB_METADATA)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert nwb.processing["ophys"]["Fluorescence"].roi_response_series["raw"].starting_time == pytest.approx(LATE)  # fmt: skip
        got = nwb.intervals["transients"].to_dataframe()
    mine = got[got["neuron_id"] == "99"]
    assert len(mine) == 1
    assert mine["start_time"].iloc[0] == pytest.approx(drawn["start_frame"].iloc[0] / FS + LATE)


def test_a_cell_drawn_on_a_multi_plane_import_is_refused_by_the_nwb_export_in_one_line(tmp_path):
    """Its plane is unknown (NaN; the cells differ in plane, so it takes none): the export
    stopped with a ValueError traceback (int(nan)); now one line that says why and what to do,
    and no file. (The drawn row is set in the table as the fit leaves it; the fit itself on
    these copied planes: test_fitting_a_cell_on_a_multi_plane_import_with_identical_planes_works.)"""
    pytest.importorskip("pynwb")
    from napari_catrack.core.sources.refit import _imaged_as_the_others
    from napari_catrack.io.nwb import write_nwb

    from ._session_helpers import NWB_METADATA

    root = real_planes(tmp_path / "s2p")
    session, _ = _session_with_transients(tmp_path, [str(root)])
    rec = session["sources"]
    comps = rec.tables["components"]
    drawn = pd.concat([comps, pd.DataFrame([{"neuron_id": 99, "y": 5.0, "x": 58.0}])], ignore_index=True)  # fmt: skip
    drawn = _imaged_as_the_others(drawn, comps)  # as the fit leaves it: several planes
    assert drawn[["plane", "plane_roi", "time_offset_s"]].iloc[-1].isna().all()
    session.record("sources", tables={"components": drawn}, arrays=dict(rec.arrays), attrs=dict(rec.attrs), params=rec.params)  # fmt: skip
    with pytest.raises(InputError, match=r"cell\(s\) 99 were drawn by hand on a multi-plane import \(planes 0, 1, 2\)"):  # fmt: skip
        write_nwb(session, tmp_path / "multi.nwb", metadata=NWB_METADATA)
    assert not (tmp_path / "multi.nwb").exists()


def _as_before_h19(session) -> None:
    """What "Fit drawn/edited cells" recorded before h19: origin "edited", our extraction's
    values as params, no "import" and no input files: nothing says the cells were suite2p's."""
    rec = session["sources"]
    params = {k: v for k, v in rec.params.items() if k != "import"}
    attrs = {k: v for k, v in rec.attrs.items() if k != "edited_from"}
    session.record("sources", tables=dict(rec.tables), arrays=dict(rec.arrays), attrs={**attrs, "inputs": {}}, params=params)  # fmt: skip


@pytest.mark.parametrize("before_h19", [False, True])
def test_an_edited_plane_imported_alone_before_session_17_keeps_its_verdicts_on_its_cells(tmp_path, capsys, before_h19):  # fmt: skip
    """A pre-session-17 `--plane 1` session (ids 0..9 within plane 1) later edited with "Fit
    drawn/edited cells" (cell 3 reshaped, cell 99 drawn) was not recognised (its record said
    "edited", not suite2p): re-imported, its verdicts went by id, cell 1's onto plane 0's cell 1.
    Now its cells are found by footprint: cell 1 is 11; the reshaped and the drawn cell have no
    counterpart, so their verdicts are dropped and said (counted, with ids), never moved."""
    from napari_catrack.core.sources.session import (
        record_sources,
        set_verdict,
        sources_from_session,
    )
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p")
    path = tmp_path / "s.catrack.h5"
    session = Session(path, autosave=False)
    record_sources(session, _pre_h17_plane(root, 1), origin="suite2p", inputs={"suite2p": str(root)})  # fmt: skip
    _draw_a_cell(session, reshape=3)
    if before_h19:
        _as_before_h19(session)
        # re-judged since in the Sources widget (it records the step's own origin, "edited"):
        # still an edit of unknown cells, not one of cells "edited" made
        record_sources(session, sources_from_session(session), origin="edited")
        assert "edited_from" not in session["sources"].attrs
    else:  # the import's provenance is kept through the edit (h19)
        assert session["sources"].params["import"] == {"tool": "suite2p", "fps": FS}
        assert "suite2p" in session["sources"].attrs["inputs"]
        assert session["sources"].attrs["edited_from"] == "suite2p"
    set_verdict(session, 1, "rejected", "two cells")
    set_verdict(session, 3, "accepted", "reshaped: one cell now")
    set_verdict(session, 99, "accepted", "drawn")
    session.save()
    out = tmp_path / "cells"
    assert main(["import", "suite2p", str(root), "-o", str(out), "--session", str(path)]) == 0
    err = capsys.readouterr().err
    note = "2 hand verdicts on cells this import no longer has were dropped: ids 3, 99 (drawn or reshaped by hand"  # fmt: skip
    assert note in err, err
    again = Session.load(path)
    assert _hand_verdicts(again) == {"11": "rejected"}
    comps = again["sources"].tables["components"].set_index("neuron_id")
    assert tuple(comps.loc[11, ["plane", "plane_roi"]]) == (1, 1)


def test_cells_edited_before_h19_that_match_no_plane_are_refused(tmp_path, capsys):
    """Edited before h19, the record does not say where the cells came from; when no plane of
    the import has most of their footprints (here the suite2p output was run again, each ROI a
    pixel smaller) their hand verdicts cannot be placed: one line, nothing written, the session
    as it was. Without hand verdicts: imported."""
    from napari_catrack.core.sources.session import (
        read_verdicts,
        record_sources,
        set_verdict,
        write_verdicts,
    )
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p")
    path = tmp_path / "s.catrack.h5"
    session = Session(path, autosave=False)
    record_sources(session, _pre_h17_plane(root, 2), origin="suite2p")
    _draw_a_cell(session)
    _as_before_h19(session)
    set_verdict(session, 2, "rejected", "two cells")
    session.save()
    _shrink_every_roi(root)
    out = tmp_path / "cells"
    assert main(["import", "suite2p", str(root), "-o", str(out), "--session", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "edited by hand (Fit drawn/edited cells) before h19, which did not record where they came from" in err  # fmt: skip
    assert "no plane of this import has most of its cells' footprints" in err
    assert "1 hand verdict(s) (cell(s) 2)" in err and "import into a new session" in err
    assert not out.exists()
    kept = Session.load(path)
    assert _hand_verdicts(kept) == {"2": "rejected"} and 99 in kept["sources"].tables["components"]["neuron_id"].tolist()  # fmt: skip
    v = read_verdicts(kept)
    write_verdicts(kept, v[v["neuron_id"] != "2"])  # no hand verdict left: nothing to misplace
    record_sources(kept, read_suite2p(root), origin="suite2p")
    assert len(kept["sources"].tables["components"]) == 3 * K


def test_only_an_edit_made_before_h19_leaves_the_cells_origin_unknown(tmp_path):
    """Since h19 an edit records `edited_from` (and keeps a suite2p import's provenance), so
    extracted cells edited since are not taken for a pre-session-17 plane: only an "edited"
    record without either is looked for by footprint."""
    from napari_catrack.core.sources.session import SOURCES_STEP, _plane_local
    from napari_catrack.session import Session

    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    comps = pd.DataFrame({"neuron_id": [0, 1]})
    for attrs, params, want in (
        ({"origin": "edited"}, {"sources": {}}, "unknown"),  # before h19
        ({"origin": "edited", "edited_from": "extracted"}, {"sources": {}}, None),
        (
            {"origin": "edited", "edited_from": "suite2p"},
            {"import": {"tool": "suite2p"}, "sources": {}},
            "suite2p",
        ),
        ({"origin": "re-evaluated"}, {"sources": {}}, None),  # extracted cells re-judged
        ({"origin": "extracted"}, {"sources": {}}, None),
    ):
        session.record(SOURCES_STEP, tables={"components": comps}, attrs=attrs, params=params)
        assert _plane_local(session[SOURCES_STEP]) == want, attrs


def test_cells_drawn_on_a_two_channel_import_get_no_red_and_the_others_keep_theirs(tmp_path):
    """Fit drawn/edited cells on a suite2p import with F_chan2.npy stopped with a traceback: the
    red rows were not extended (3,000 values for 3,300 rows). Now the drawn and the reshaped
    cell have no red (NaN: suite2p measured red on its ROIs, the fit measures green), said in
    a warning, and every other cell keeps suite2p's red."""
    from napari_catrack.core.sources.session import record_sources
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p", n=1)
    folder = root / "suite2p" / "plane0"
    rng = np.random.default_rng(2)
    f2 = rng.uniform(200, 400, (K, 300)).astype(np.float32)
    n2 = rng.uniform(50, 100, (K, 300)).astype(np.float32)
    np.save(folder / "F_chan2.npy", f2)
    np.save(folder / "Fneu_chan2.npy", n2)
    coeff = float(np.load(folder / "ops.npy", allow_pickle=True).item()["neucoeff"])
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_sources(session, read_suite2p(root), origin="suite2p")
    out = _draw_a_cell(session, reshape=3)
    assert any("cells drawn or reshaped by hand are empty (NaN)" in w for w in out.warnings)
    assert any("drawn or reshaped" in n for n in session["sources"].attrs["notes"])
    traces = session["traces"].tables["traces"]
    for nid in range(K + 1):
        nid = 99 if nid == K else nid
        mine = traces[traces["neuron_id"] == nid].sort_values("frame")
        if nid in (3, 99):
            assert mine[["red", "red_raw", "red_bg"]].isna().all().all()
            assert mine["raw"].notna().all()
        else:
            np.testing.assert_allclose(mine["red"], f2[nid] - coeff * n2[nid], rtol=1e-5)


def test_fitting_a_drawn_cell_keeps_suite2ps_verdicts_on_the_other_cells(tmp_path):
    """Fit drawn/edited cells judged every cell again with our thresholds: on this import, 5 of the 6
    cells suite2p rejected (iscell 0) became accepted. Now only the drawn and the reshaped cell
    are judged by the thresholds; the others keep suite2p's verdict and reason."""
    from napari_catrack.core.sources.session import record_sources
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p", n=1)
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_sources(session, read_suite2p(root), origin="suite2p")
    before = session["sources"].tables["components"].set_index("neuron_id")
    assert (before["reason"] == "rejected by suite2p").sum() == 6
    _draw_a_cell(session, reshape=3)
    after = session["sources"].tables["components"].set_index("neuron_id")
    others = [i for i in range(K) if i != 3]
    pd.testing.assert_frame_equal(after.loc[others, ["accepted", "reason"]], before.loc[others, ["accepted", "reason"]])  # fmt: skip
    for nid in (3, 99):  # the thresholds' verdict (area, SNR), not suite2p's
        assert "suite2p" not in after.loc[nid, "reason"]


def test_an_edited_import_is_still_judged_as_the_tools_cells(tmp_path):
    """After "Fit drawn/edited cells" on a suite2p import the record's origin is "edited": the
    Sources widget took the cells for extracted ones ('re-judge imported cells' disabled) and
    the next threshold change judged every cell again, over suite2p's iscell. The tool is read
    from `edited_from`; the drawn and the reshaped cell have no suite2p verdict, so the
    thresholds judge them and only them, and the box brings suite2p's verdicts back."""
    from napari_catrack.core.sources.evaluation import judge, rejudged
    from napari_catrack.core.sources.params import EvaluationParams
    from napari_catrack.core.sources.session import imported_tool, record_sources
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p", n=1)
    path = tmp_path / "s.catrack.h5"
    session = Session(path, autosave=False)
    record_sources(session, read_suite2p(root), origin="suite2p")
    before = session["sources"].tables["components"].set_index("neuron_id")
    _draw_a_cell(session, reshape=3, tool=imported_tool(session))
    session.save()
    session = Session.load(path)
    assert session["sources"].attrs["origin"] == "edited"
    assert imported_tool(session) == "suite2p"
    comps = session["sources"].tables["components"]
    assert not rejudged(comps)
    strict = EvaluationParams(min_snr=1e6)  # the thresholds reject every cell
    others = [i for i in range(K) if i != 3]
    for rejudge in (False, True, False):
        out = judge(comps, strict, tool=imported_tool(session), rejudge_imported=rejudge).set_index("neuron_id")  # fmt: skip
        assert rejudged(out.reset_index()) == rejudge
        for nid in (3, 99):  # drawn or reshaped: always the thresholds'
            assert not out.loc[nid, "accepted"] and "SNR" in out.loc[nid, "reason"]
        if rejudge:
            assert not out.loc[others, "accepted"].any()
        else:  # suite2p's own verdicts, its 6 rejections among them
            pd.testing.assert_series_equal(out.loc[others, "accepted"].astype(bool), before.loc[others, "accepted"].astype(bool))  # fmt: skip
            assert (out.loc[others, "reason"] == before.loc[others, "reason"]).all()
        comps = out.reset_index()


def test_hand_verdicts_of_extracted_cells_follow_their_footprint_into_an_import(tmp_path):
    """A session of catrack's own cells into which a suite2p output was imported kept its hand
    verdicts by id: extracted cell 0's verdict landed on suite2p's cell 0, another cell. Now a
    verdict follows the cell of the same footprint (here the extracted cells are suite2p's in
    reverse order, cell 2 one pixel smaller), else it is dropped and said, counted."""
    from napari_catrack.core.sources.footprints import Footprints
    from napari_catrack.core.sources.session import record_sources, set_verdict
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p", n=1)
    imported = read_suite2p(root)
    dense = np.asarray(imported.footprints)[::-1].copy()  # extracted cell j: suite2p's K-1-j
    dense[2][tuple(np.argwhere(dense[2] > 0)[0])] = 0  # cell 2 (suite2p's K-3) reshaped
    dense[1] *= 3  # stored at another scale: still the same footprint
    comps = imported.components.drop(columns=["plane", "plane_roi", "time_offset_s"], errors="ignore")  # fmt: skip
    comps = comps.iloc[::-1].reset_index(drop=True).assign(neuron_id=np.arange(K))
    flip = lambda a: None if a is None else np.asarray(a)[::-1].copy()  # noqa: E731
    extracted = replace(imported, components=comps, footprints=Footprints.from_dense(dense),
                        raw=flip(imported.raw), denoised=flip(imported.denoised),
                        spikes=flip(imported.spikes), dff=flip(imported.dff), red=None,
                        red_background=None, made_with={})  # fmt: skip
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_sources(session, extracted, origin="extracted")
    for nid, status in ((0, "rejected"), (1, "accepted"), (2, "rejected")):
        set_verdict(session, nid, status, "by hand")
    said = record_sources(session, read_suite2p(root), origin="suite2p")
    want = {str(K - 1): "rejected", str(K - 2): "accepted"}
    assert _hand_verdicts(session) == want
    assert said == [
        "1 hand verdict on a cell this import no longer has was dropped: id 2 (the session's "
        "cells were extracted by catrack, these are suite2p's, with ids of their own: no cell "
        "of this import has its footprint)"
    ]
    assert said[0] in session["sources"].attrs["notes"]
    # the same suite2p output again: its own ids, kept
    assert record_sources(session, read_suite2p(root), origin="suite2p") == []
    assert _hand_verdicts(session) == want


def test_fitting_a_cell_on_a_multi_plane_import_with_identical_planes_works(tmp_path):
    """Fit drawn/edited cells on a multi-plane import whose planes have the same footprints (the
    planes overlaid in one frame: cell 3 of plane 0 is 13 of plane 1 and 23 of plane 2)
    stopped with numpy's "LinAlgError: Singular matrix" (the first traces' ridge, 1e-6, was
    below float32's resolution). Now the same footprints share their trace: the drawn cell is
    fitted where it was drawn and the reshaped one keeps its place."""
    from napari_catrack.core.sources.hals import factorise
    from napari_catrack.core.sources.session import record_sources
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p")
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_sources(session, read_suite2p(root), origin="suite2p")
    before = session["sources"].tables["components"].set_index("neuron_id")
    out = _draw_a_cell(session, reshape=3).components.set_index("neuron_id")
    assert len(out) == 3 * K + 1
    assert abs(out.loc[99, "y"] - 5) < 1 and abs(out.loc[99, "x"] - 58) < 1
    assert np.hypot(*(out.loc[3, ["y", "x"]] - before.loc[3, ["y", "x"]])) < 1
    assert np.isfinite(out.loc[[3, 99], ["snr", "r_value"]].to_numpy(float)).all()
    # the factorisation itself: two identical footprints share the trace
    rng = np.random.default_rng(1)
    a = np.zeros((100, 1), np.float32)
    a[40:60] = 50.0
    trace = rng.uniform(0, 10, (1, 200)).astype(np.float32)
    Y = a @ trace + 100 + rng.normal(0, 0.1, (100, 200)).astype(np.float32)
    fac = factorise(Y, np.hstack([a, a]), np.hstack([a, a]) > 0, background_rank=1, iterations=5)
    assert len(fac.kept) == 2
    assert np.corrcoef(fac.C.sum(axis=0), trace[0])[0, 1] > 0.95  # the cell's activity (its
    # mean goes to the background)

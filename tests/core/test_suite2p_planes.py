"""A multi-plane suite2p output (plane0/, plane1/, ... as suite2p writes them) imported as a
whole: every plane's cells, each with its plane and its row in the plane's own files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.io.sources import read_sources
from napari_catrack.io.suite2p import read_suite2p

LY, LX, FS = 24, 32, 7.5  # fs: each plane's rate, the volume rate of a piezo recording
CELLS = {0: [(5, 6), (12, 22)], 1: [(4, 25), (10, 10), (18, 5)], 2: [(15, 15)]}


def _plane(folder: Path, centres, *, t=50, seed=0, coeff=0.7) -> dict:
    """One planeN folder in suite2p's format: stat.npy (object array of ROI dicts), ops.npy (a
    pickled dict), F / Fneu / spks (ROIs x frames, float32), iscell (ROIs x 2)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    stat = []
    for cy, cx in centres:
        yy, xx = np.mgrid[cy - 2 : cy + 3, cx - 2 : cx + 3]
        lam = rng.uniform(0.2, 1.0, yy.size).astype(np.float32)
        stat.append({"ypix": yy.ravel(), "xpix": xx.ravel(), "lam": lam, "med": [cy, cx],
                     "npix": yy.size, "iplane": 0})  # fmt: skip
    k = len(centres)
    F = (100 + rng.normal(0, 2, (k, t))).astype(np.float32)
    F[:, 10:14] += 60
    fneu = (40 + rng.normal(0, 1, (k, t))).astype(np.float32)
    spks = rng.exponential(1.0, (k, t)).astype(np.float32)
    iscell = np.column_stack([np.arange(k) % 2 == 0, rng.uniform(0, 1, k)]).astype(float)
    np.save(folder / "stat.npy", np.array(stat, dtype=object))
    np.save(folder / "ops.npy", {"fs": FS, "Ly": LY, "Lx": LX, "neucoeff": coeff, "nplanes": 3})
    for name, arr in (("F", F), ("Fneu", fneu), ("spks", spks), ("iscell", iscell)):
        np.save(folder / f"{name}.npy", arr)
    return {"F": F, "Fneu": fneu, "spks": spks, "iscell": iscell, "stat": stat, "coeff": coeff}


def three_planes(root: Path, lengths=(50, 50, 50)) -> dict[int, dict]:
    """A 3-plane suite2p output under root/suite2p (coefficients differ per plane)."""
    return {p: _plane(root / "suite2p" / f"plane{p}", CELLS[p], t=lengths[p], seed=p,
                      coeff=0.5 + 0.1 * p) for p in CELLS}  # fmt: skip


def add_roi_to_plane0(root: Path) -> None:
    """plane0 gains a ROI at its end, as suite2p's GUI adds one (a merge): its stat, F, Fneu,
    spks and iscell one row longer; every later plane's rows move by one in `combined/` order."""
    p0 = root / "suite2p" / "plane0"
    stat = list(np.load(p0 / "stat.npy", allow_pickle=True))
    np.save(p0 / "stat.npy", np.array([*stat, dict(stat[0])], dtype=object))
    for name in ("F", "Fneu", "spks", "iscell"):
        arr = np.load(p0 / f"{name}.npy")
        np.save(p0 / f"{name}.npy", np.concatenate([arr, arr[:1]]))


def _wide(traces: pd.DataFrame, column: str) -> np.ndarray:
    return traces.pivot(index="neuron_id", columns="frame", values=column).to_numpy()


def test_every_plane_is_imported_with_its_plane_and_row(tmp_path, capsys):
    planes = three_planes(tmp_path / "out2p")
    out = tmp_path / "cells"
    assert main(["import", "suite2p", str(tmp_path / "out2p"), "-o", str(out)]) == 0
    said = capsys.readouterr()  # the result line on stdout, the notes on stderr (h18)
    assert "6 suite2p components" in said.out and "3 planes" in said.err and "volume rate" in said.err, said  # fmt: skip
    got = read_sources(out)
    comps = got.components
    assert comps["neuron_id"].tolist() == list(range(6))  # unique across planes, plane order
    assert comps["plane"].tolist() == [0, 0, 1, 1, 1, 2]
    assert comps["plane_roi"].tolist() == [0, 1, 0, 1, 2, 0]
    want_acc = np.concatenate([planes[p]["iscell"][:, 0] > 0.5 for p in planes])
    assert comps["accepted"].astype(bool).tolist() == want_acc.tolist()
    raw, spikes = _wide(got.traces, "raw"), _wide(got.traces, "spikes")
    for nid, (p, i) in enumerate(zip(comps["plane"], comps["plane_roi"], strict=True)):
        s = planes[p]
        np.testing.assert_allclose(raw[nid], s["F"][i] - s["coeff"] * s["Fneu"][i], rtol=1e-5)
        np.testing.assert_allclose(spikes[nid], s["spks"][i], rtol=1e-6)
        st = s["stat"][i]
        fp = np.asarray(got.footprints[nid])
        assert fp.shape == (LY, LX) and np.all(fp[st["ypix"], st["xpix"]] > 0)
        assert np.count_nonzero(fp) == st["ypix"].size
    times = got.traces[got.traces["neuron_id"] == 0]["time_s"].to_numpy()
    np.testing.assert_allclose(np.diff(times), 1 / FS)  # the volume rate
    # --plane N reads one plane, its cells under their all-planes ids (h17: were 0, 1, 2)
    assert main(["import", "suite2p", str(tmp_path / "out2p"), "--plane", "1", "-o", str(tmp_path / "p1")]) == 0  # fmt: skip
    one = read_sources(tmp_path / "p1")
    assert one.components["neuron_id"].tolist() == [2, 3, 4]
    assert one.components["plane_roi"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(_wide(one.traces, "raw"), planes[1]["F"] - 0.6 * planes[1]["Fneu"], rtol=1e-5)  # fmt: skip


def test_planes_of_different_lengths_are_cut_to_the_shortest(tmp_path):
    planes = three_planes(tmp_path, lengths=(50, 50, 49))  # the last volume's last plane missing
    res = read_suite2p(tmp_path, plane="all")
    assert res.raw.shape == (6, 49)
    np.testing.assert_allclose(res.raw[5], planes[2]["F"][0] - 0.7 * planes[2]["Fneu"][0], rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(res.raw[0], (planes[0]["F"][0] - 0.5 * planes[0]["Fneu"][0])[:49], rtol=1e-5)  # fmt: skip
    assert any("plane 0: 50, plane 1: 50, plane 2: 49" in w and "shortest, 49" in w for w in res.warnings)  # fmt: skip


def test_combined_folder_is_not_read(tmp_path):
    """suite2p's combined/ re-tiles the planes into one mosaic (ROI pixels shifted): its ROIs
    are the planes' own, so the planes are read and combined/ is named as not read."""
    three_planes(tmp_path)
    combined = tmp_path / "suite2p" / "combined"
    _plane(combined, [(30, 40)], seed=9)  # a mosaic-sized ROI: would not fit a plane
    res = read_suite2p(tmp_path)
    assert len(res.components) == 6 and res.footprints.shape == (6, LY, LX)
    assert any("combined/ not read" in n for n in res.notes)
    given = read_suite2p(combined)  # the combined folder given: its planes read instead
    assert len(given.components) == 6 and any("combined view" in n for n in given.notes)


@pytest.mark.parametrize("spoil", ["no F.npy", "F rows"])
def test_a_bad_plane_is_one_line_and_writes_nothing(tmp_path, capsys, spoil):
    three_planes(tmp_path / "s2p")
    plane2 = tmp_path / "s2p" / "suite2p" / "plane2"
    if spoil == "no F.npy":
        (plane2 / "F.npy").unlink()
        msg = "plane2 lacks F.npy"
    else:  # a second row: F from another run than stat.npy (1 ROI)
        np.save(plane2 / "F.npy", np.ones((2, 50), np.float32))
        msg = "F.npy is (2, 50) but stat.npy has 1 ROIs"
    out = tmp_path / "cells"
    assert main(["import", "suite2p", str(tmp_path / "s2p"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_plane_option_takes_a_number_or_all(tmp_path, capsys):
    three_planes(tmp_path)
    assert main(["import", "suite2p", str(tmp_path), "--plane", "all", "-o", str(tmp_path / "a")]) == 0  # fmt: skip
    assert len(read_sources(tmp_path / "a").components) == 6
    with pytest.raises(SystemExit):
        main(["import", "suite2p", str(tmp_path), "--plane", "two", "-o", str(tmp_path / "b")])
    assert "a plane number (0, 1, ...) or all" in capsys.readouterr().err


def test_nwb_has_one_imaging_plane_and_segmentation_per_plane(tmp_path):
    """The export of a multi-plane import: ImagingPlane_planeN + PlaneSegmentation_planeN per
    plane, each plane's traces a series whose ROIs are rows of its own plane's table, the
    transients pointing at (plane, row); nwbinspector finds nothing wrong; read back with pynwb."""
    pynwb = pytest.importorskip("pynwb")
    from napari_catrack.core.sources.session import sources_from_session
    from napari_catrack.core.transients import TransientParams, cell_table, detect_transients
    from napari_catrack.core.transients.records import record_transients
    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.io.nwb_ophys import read_masks
    from napari_catrack.session import Session

    from ._session_helpers import NWB_METADATA, inspect_problems

    planes = three_planes(tmp_path / "s2p")
    path = tmp_path / "s.catrack.h5"
    assert main(["import", "suite2p", str(tmp_path / "s2p"), "-o", str(tmp_path / "cells"), "--session", str(path)]) == 0  # fmt: skip
    session = Session.load(path)
    ids = [str(i) for i in range(6)]
    dff = sources_from_session(session).dff
    transients = detect_transients(dff, FS, "ksigma", ids, TransientParams())
    assert transients["neuron_id"].nunique() >= 3  # every cell's event at frames 10-13
    cells = cell_table(transients, ids, 50, FS)
    record_transients(session, transients, cells, TransientParams(), fps=FS)
    out = write_nwb(session, tmp_path / "s.nwb", metadata=NWB_METADATA)
    assert inspect_problems(out) == []
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert sorted(nwb.imaging_planes) == [f"ImagingPlane_plane{p}" for p in range(3)]
        segs = nwb.processing["ophys"]["ImageSegmentation"].plane_segmentations
        assert sorted(segs) == [f"PlaneSegmentation_plane{p}" for p in range(3)]
        raw = nwb.processing["ophys"]["Fluorescence"].roi_response_series
        for p, want_ids in {0: ["0", "1"], 1: ["2", "3", "4"], 2: ["5"]}.items():
            ps = segs[f"PlaneSegmentation_plane{p}"]
            assert ps.imaging_plane.name == f"ImagingPlane_plane{p}"
            assert ps.imaging_plane.imaging_rate == FS
            assert list(ps["neuron_id"][:]) == want_ids
            masks = read_masks(ps)
            for row, st in enumerate(planes[p]["stat"]):  # plane p's ROI `row`, its own pixels
                np.testing.assert_array_equal(np.flatnonzero(np.asarray(masks[row])), np.sort(st["ypix"] * LX + st["xpix"]))  # fmt: skip
            series = raw[f"raw_plane{p}"]
            assert series.rois.table.name == ps.name and list(series.rois.data[:]) == list(range(len(want_ids)))  # fmt: skip
            s = planes[p]
            np.testing.assert_allclose(series.data[:], (s["F"] - s["coeff"] * s["Fneu"]).T, rtol=1e-5)  # fmt: skip
        table = nwb.intervals["transients"].to_dataframe()
        assert len(table) == len(transients)
        comps = session["sources"].tables["components"].set_index(session["sources"].tables["components"]["neuron_id"].astype(str))  # fmt: skip
        assert table["plane"].tolist() == comps.loc[table["neuron_id"], "plane"].tolist()
        assert table["plane_roi"].tolist() == comps.loc[table["neuron_id"], "plane_roi"].tolist()


def test_planes_of_other_sizes_or_rates_are_said(tmp_path):
    """A plane whose frame is smaller keeps its pixels (top left of the largest frame); planes
    whose fs differ are named, and the first plane's rate is used."""
    three_planes(tmp_path)
    ops2 = tmp_path / "suite2p" / "plane2" / "ops.npy"
    np.save(ops2, {"fs": 5.0, "Ly": 20, "Lx": 20, "neucoeff": 0.7})
    res = read_suite2p(tmp_path)
    assert res.footprints.shape == (6, LY, LX) and res.fps == FS
    assert np.asarray(res.footprints[5])[15, 15] > 0  # plane 2's ROI at (15, 15), in place
    assert any("frames differ in size (24 x 32, 24 x 32, 20 x 20)" in w for w in res.warnings)
    assert any("fs differ" in w and "plane2/ops.npy: 5 Hz" in w and f"{FS:g} Hz used" in w for w in res.warnings)  # fmt: skip


def test_a_plane_folder_without_rois_is_said_not_skipped_silently(tmp_path, capsys):
    """suite2p leaves a planeN folder without stat.npy when it found no ROI there or stopped
    before detection: the import read the other planes and said nothing, so a whole plane was
    missing from the results unnoticed. Now a warning names it."""
    three_planes(tmp_path / "out2p")
    for name in ("stat.npy", "F.npy", "Fneu.npy", "spks.npy", "iscell.npy"):
        (tmp_path / "out2p" / "suite2p" / "plane1" / name).unlink()  # ops.npy, data.bin left
    out = tmp_path / "cells"
    assert main(["import", "suite2p", str(tmp_path / "out2p"), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: plane1 has no stat.npy" in err and "not imported" in err, err
    assert read_sources(out).components["plane"].tolist() == [0, 0, 2]
    # two planes left, one of them without ROIs: the one read is still not all
    for name in ("stat.npy", "F.npy", "Fneu.npy", "spks.npy", "iscell.npy"):
        (tmp_path / "out2p" / "suite2p" / "plane2" / name).unlink()
    result = read_suite2p(tmp_path / "out2p")
    assert any("plane1, plane2 have no stat.npy" in w for w in result.warnings), result.warnings


def test_a_reimport_keeps_each_verdict_on_its_cell_when_an_earlier_plane_grew(tmp_path):
    """Ids run through the planes, so a plane that gains a ROI (suite2p's GUI appends a merged
    ROI to that plane's stat.npy) moves every later plane's ids by one. A re-import into the
    session kept the user's verdicts by id: the cell rejected by hand (plane 1, row 1) was
    accepted again and its neighbour (plane 1, row 0) rejected instead. Verdicts now follow
    (plane, plane_roi) from the session's earlier import."""
    from napari_catrack.core.sources.session import read_verdicts, record_sources, set_verdict
    from napari_catrack.session import Session

    root = tmp_path / "s2p"
    three_planes(root)
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_sources(session, read_suite2p(root), origin="suite2p")
    comps = session["sources"].tables["components"]
    mine = comps[(comps["plane"] == 1) & (comps["plane_roi"] == 1)]["neuron_id"].item()
    set_verdict(session, mine, "rejected", "bad shape")
    set_verdict(session, 5, "accepted", "looked at it")  # plane 2, row 0
    add_roi_to_plane0(root)  # (a merged ROI at its end)
    record_sources(session, read_suite2p(root), origin="suite2p")
    comps = session["sources"].tables["components"]
    key = dict(zip(comps["neuron_id"].astype(str), zip(comps["plane"], comps["plane_roi"])))
    mine = {key[r.neuron_id]: (r.status, r.reason) for r in read_verdicts(session).itertuples()
            if not r.reason.startswith("auto: ")}  # fmt: skip
    assert mine == {(1, 1): ("rejected", "bad shape"), (2, 0): ("accepted", "looked at it")}


def test_nwb_plane_descriptions_say_where_the_cells_came_from(tmp_path):
    """The per-plane ImagingPlane and PlaneSegmentation descriptions said "suite2p plane N" for
    every multi-plane session, ImageJ ROIs of several Z planes too, and dropped the user's own
    imaging description (metadata `imaging.description`) from every plane."""
    pynwb = pytest.importorskip("pynwb")
    from napari_catrack.core.sources.session import record_sources
    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.session import Session

    from ._session_helpers import NWB_METADATA

    three_planes(tmp_path / "s2p")
    meta = {**NWB_METADATA, "imaging": {"description": "GCaMP6s in layer 2/3"}}
    for origin, want in (("suite2p", "suite2p output (its plane1 folder)"),
                         ("imagej", "Z plane 1 of the recording (imagej ROIs)")):  # fmt: skip
        result = read_suite2p(tmp_path / "s2p")
        if origin == "imagej":  # ImageJ ROIs on Z planes: a plane column, no suite2p rows
            result.components = result.components.drop(columns="plane_roi")
        session = Session(tmp_path / f"{origin}.catrack.h5", autosave=False)
        record_sources(session, result, origin=origin)
        out = write_nwb(session, tmp_path / f"{origin}.nwb", metadata=meta)
        with pynwb.NWBHDF5IO(str(out), "r") as io:
            nwb = io.read()
            plane = nwb.imaging_planes["ImagingPlane_plane1"].description
            seg = nwb.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation_plane1"]
            assert plane.startswith("GCaMP6s in layer 2/3; plane 1") and want in plane, plane
            assert want in seg.description, seg.description
            if origin == "imagej":
                assert "suite2p" not in plane + seg.description


def test_verdicts_of_cells_drawn_by_hand_keep_their_ids(tmp_path):
    """A cell drawn in the Sources widget on a multi-plane import has no plane (NaN): its id is
    its own, and the other cells still follow (plane, plane_roi)."""
    from napari_catrack.core.sources.session import SOURCES_STEP, _moved_ids
    from napari_catrack.session import Session

    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    old = pd.DataFrame({"neuron_id": [0, 1, 2, 7], "plane": [0, 0, 1, np.nan],
                        "plane_roi": [0, 1, 0, np.nan]})  # fmt: skip
    session.record(SOURCES_STEP, tables={"components": old})
    new = pd.DataFrame({"neuron_id": [0, 1, 2, 3], "plane": [0, 0, 0, 1], "plane_roi": [0, 1, 2, 0]})  # fmt: skip
    assert _moved_ids(session, new) == {"0": "0", "1": "1", "2": "3", "7": "7"}
    assert _moved_ids(session, new.drop(columns="plane_roi")) is None  # --plane N: by id


def test_a_reimport_says_which_hand_verdicts_it_dropped(tmp_path, capsys):
    """Hand verdicts on cells a re-import no longer has (here: one plane imported again) were
    dropped without a word: the import's notes count them, with their ids (h18)."""
    from napari_catrack.core.sources.session import (
        SOURCES_STEP,
        read_verdicts,
        record_sources,
        set_verdict,
    )
    from napari_catrack.session import Session

    def hand(session) -> list[str]:
        v = read_verdicts(session)
        return v[~v["reason"].str.startswith("auto: ")]["neuron_id"].tolist()

    root = tmp_path / "s2p"
    three_planes(root)
    path = tmp_path / "s.catrack.h5"
    session = Session(path, autosave=False)
    record_sources(session, read_suite2p(root), origin="suite2p")
    set_verdict(session, 1, "accepted", "looked at it")  # plane 0, row 1
    set_verdict(session, 3, "rejected", "bad shape")  # plane 1, row 1
    set_verdict(session, 5, "accepted", "looked at it")  # plane 2, row 0
    result = read_suite2p(root, plane="all")
    assert record_sources(session, result, origin="suite2p") == []  # nothing dropped
    assert not any("hand verdict" in n for n in result.notes) and hand(session) == ["1", "3", "5"]
    result = read_suite2p(root, plane=1)
    why = (" (suite2p's cells are found again by their footprints, as another run of it numbers "
           "them in its own order: no cell of this import has its footprint)")  # h20  # fmt: skip
    note = "2 hand verdicts on cells this import no longer has were dropped: ids 1, 5" + why
    assert record_sources(session, result, origin="suite2p") == [note]
    assert note in result.notes and note in session[SOURCES_STEP].attrs["notes"]
    assert hand(session) == ["3"]
    session.save()
    capsys.readouterr()
    argv = ["import", "suite2p", str(root), "--plane", "0", "-o", str(tmp_path / "p0"), "--session", str(path)]  # fmt: skip
    assert main(argv) == 0
    note = "1 hand verdict on a cell this import no longer has was dropped: id 3" + why
    assert f"catrack import: {note}\n" in capsys.readouterr().err
    again = Session.load(path)
    assert note in again[SOURCES_STEP].attrs["notes"] and hand(again) == []

"""Hand verdicts when the same tool's output is imported again (h20): CaImAn, Minian and ImageJ
number their cells in their own order (no plane columns), so a re-import must not carry a
verdict by id onto another cell. It follows the cell of the very same footprint (the rule of
every path that replaces the session's cells), else it is dropped and said, counted."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from napari_catrack.cli import main
from napari_catrack.core.sources.session import AUTO, SOURCES_STEP, read_verdicts, set_verdict
from napari_catrack.session import Session
from tests.core.test_imports import _write_caiman

DIMS = (20, 30)


def _cells() -> np.ndarray:
    fp = np.zeros((4, *DIMS))
    fp[0, 2:5, 3:9] = 1.0
    fp[1, 10:16, 22:27] = 1.0
    fp[2, 12:18, 4:8] = 1.0
    fp[3, 1:6, 15:21] = 1.0
    return fp


def _caiman(path, fp, seed=0):
    A = sparse.csc_matrix(np.stack([f.ravel(order="F") for f in fp], axis=1))
    C = np.abs(np.random.default_rng(seed).normal(size=(len(fp), 40))) + 1
    _write_caiman(path, A, C, DIMS, idx=list(range(len(fp))))
    return path


def _hand(session) -> dict[str, str]:
    v = read_verdicts(session)
    v = v[~v["reason"].str.startswith(AUTO)]
    return dict(zip(v["neuron_id"], v["status"], strict=True))


def _import(tmp_path, path, out, capsys) -> str:
    capsys.readouterr()
    argv = ["import", "caiman", str(path), "-o", str(tmp_path / out), "--session", str(tmp_path / "s.catrack.h5")]  # fmt: skip
    assert main(argv) == 0
    return capsys.readouterr().err


def test_a_caiman_reimport_in_another_order_keeps_each_verdict_on_its_cell(tmp_path, capsys):
    """Before h20 a CaImAn re-import whose components came in another order put cell 0's
    rejection on the cell now numbered 0 (the old cell 3), without a word."""
    fp = _cells()
    _import(tmp_path, _caiman(tmp_path / "a.hdf5", fp), "a", capsys)
    s = Session.load(tmp_path / "s.catrack.h5")
    set_verdict(s, 0, "rejected", "by hand")
    set_verdict(s, 1, "accepted", "by hand")
    s.save()
    again = fp[::-1].copy()  # another run: the same cells, numbered in reverse
    err = _import(tmp_path, _caiman(tmp_path / "b.hdf5", again, seed=1), "b", capsys)
    assert _hand(Session.load(tmp_path / "s.catrack.h5")) == {"3": "rejected", "2": "accepted"}
    assert "hand verdict" not in err
    # a run that reshaped the old cell 0 (now id 3) and dropped cell 1 (now id 2): both said
    changed = again[[0, 1, 3]].copy()
    changed[2, 2, 3] = 0
    err = _import(tmp_path, _caiman(tmp_path / "c.hdf5", changed, seed=2), "c", capsys)
    s = Session.load(tmp_path / "s.catrack.h5")
    assert _hand(s) == {}
    note = (
        "2 hand verdicts on cells this import no longer has were dropped: ids 2, 3 (CaImAn's "
        "cells are found again by their footprints, as another run of it numbers them in its "
        "own order: no cell of this import has its footprint)"
    )
    assert f"catrack import: {note}\n" in err
    assert note in s[SOURCES_STEP].attrs["notes"]


def test_a_suite2p_rerun_whose_rows_moved_keeps_each_verdict_on_its_cell(tmp_path):
    """suite2p's place (`plane`, `plane_roi`) is a row of its files: another run numbers the
    ROIs in its own order. Before h20 a re-import kept the verdict of plane 1's row 0 on the
    ROI now at row 0 (another cell); it follows the cell's footprint, in its own plane."""
    from napari_catrack.core.sources.session import record_sources
    from napari_catrack.io.suite2p import read_suite2p

    from .test_suite2p_planes import three_planes

    root = tmp_path / "s2p"
    three_planes(root)
    s = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_sources(s, read_suite2p(root), origin="suite2p")

    def at(session) -> dict:
        comps = session[SOURCES_STEP].tables["components"]
        place = dict(zip(comps["neuron_id"].astype(str), zip(comps["plane"], comps["plane_roi"])))
        return {place[i]: v for i, v in _hand(session).items()}

    comps = s[SOURCES_STEP].tables["components"].set_index(["plane", "plane_roi"])["neuron_id"]
    set_verdict(s, comps[(1, 0)], "rejected", "by hand")
    set_verdict(s, comps[(0, 1)], "accepted", "by hand")
    plane1 = root / "suite2p" / "plane1"  # the run again: plane 1's 3 ROIs in reverse order
    np.save(plane1 / "stat.npy", np.load(plane1 / "stat.npy", allow_pickle=True)[::-1])
    for name in ("F", "Fneu", "spks", "iscell"):
        np.save(plane1 / f"{name}.npy", np.load(plane1 / f"{name}.npy")[::-1])
    assert record_sources(s, read_suite2p(root), origin="suite2p") == []
    assert at(s) == {(1, 2): "rejected", (0, 1): "accepted"}


def test_cells_recorded_again_as_they_were_are_not_compared_cell_by_cell(tmp_path, monkeypatch):
    """The Sources widget records an import's cells again on every threshold change (its origin
    kept), which now takes the footprint rule: the very same cells are told at once (their
    stored footprints equal), not by comparing each cell's pixels (0.2-0.3 s for 2,000 cells)."""
    from napari_catrack.core.sources import session as sources_session
    from napari_catrack.core.sources.session import record_sources, sources_from_session
    from napari_catrack.io.caiman import read_caiman

    s = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_sources(s, read_caiman(_caiman(tmp_path / "a.hdf5", _cells())), origin="caiman")
    set_verdict(s, 2, "rejected", "by hand")
    again = sources_from_session(s)

    def compared(*_):
        raise AssertionError("compared cell by cell")

    monkeypatch.setattr(sources_session, "_cell_pixels", compared)
    assert record_sources(s, again, origin="caiman") == []
    assert _hand(s) == {"2": "rejected"}


def test_two_cells_of_one_footprint_give_their_verdicts_to_no_one_new_cell(tmp_path, capsys):
    """A session whose cells 0 and 1 have one footprint (a tool's duplicate), re-imported with
    that footprint once: before h21 both hand verdicts (rejected, accepted) went to the one new
    cell. Whose verdict is its cannot be told: neither is kept, and the note names both."""
    fp = _cells()
    fp[1] = fp[0]  # a duplicate
    _import(tmp_path, _caiman(tmp_path / "a.hdf5", fp), "a", capsys)
    s = Session.load(tmp_path / "s.catrack.h5")
    set_verdict(s, 0, "rejected", "by hand")
    set_verdict(s, 1, "accepted", "by hand")
    set_verdict(s, 2, "accepted", "by hand")
    s.save()
    again = fp[[3, 2, 0]].copy()  # another run: the duplicate once, cells in another order
    err = _import(tmp_path, _caiman(tmp_path / "b.hdf5", again, seed=1), "b", capsys)
    s = Session.load(tmp_path / "s.catrack.h5")
    assert _hand(s) == {"1": "accepted"}  # old cell 2, now id 1: its verdict followed it
    assert "2 hand verdicts on cells this import no longer has were dropped: ids 0, 1" in err
    assert "ids 0, 1 had one footprint" in err
    assert any("ids 0, 1 had one footprint" in n for n in s[SOURCES_STEP].attrs["notes"])


def test_two_cells_of_one_footprint_with_one_verdict_give_it_to_the_new_cell(tmp_path, capsys):
    """Twins (cells 0 and 1 on one footprint) that both carry the same hand verdict: before h22
    neither was kept, as when they disagree, though the new cell's verdict could not be wrong.
    It is kept (once), and neither the dropped-verdict note nor the twins note names them; twins
    whose status agrees but whose reasons differ still keep neither."""
    fp = _cells()
    fp[1] = fp[0]  # a duplicate
    _import(tmp_path, _caiman(tmp_path / "a.hdf5", fp), "a", capsys)
    s = Session.load(tmp_path / "s.catrack.h5")
    set_verdict(s, 0, "rejected", "two cells merged")
    set_verdict(s, 1, "rejected", "two cells merged")
    s.save()
    again = fp[[3, 2, 0]].copy()  # another run: the duplicate once, now id 2
    err = _import(tmp_path, _caiman(tmp_path / "b.hdf5", again, seed=1), "b", capsys)
    s = Session.load(tmp_path / "s.catrack.h5")
    v = read_verdicts(s)
    v = v[~v["reason"].str.startswith(AUTO)]
    assert v[["neuron_id", "status", "reason"]].values.tolist() == [["2", "rejected", "two cells merged"]]  # fmt: skip
    assert "hand verdict" not in err and "had one footprint" not in err
    assert not any("one footprint" in n for n in s[SOURCES_STEP].attrs.get("notes", []))
    # the same status, other reasons: which reason is the cell's cannot be told
    fp2 = _cells()
    fp2[1] = fp2[0]
    _import(tmp_path, _caiman(tmp_path / "c.hdf5", fp2, seed=2), "c", capsys)  # ids as in fp2
    s = Session.load(tmp_path / "s.catrack.h5")
    set_verdict(s, 0, "rejected", "two cells merged")
    set_verdict(s, 1, "rejected", "out of focus")
    set_verdict(s, 2, "unverified")
    s.save()
    err = _import(tmp_path, _caiman(tmp_path / "d.hdf5", again, seed=3), "d", capsys)
    assert _hand(Session.load(tmp_path / "s.catrack.h5")) == {}
    assert "ids 0, 1 had one footprint" in err


def test_the_import_result_line_names_the_tool_properly(tmp_path, capsys):
    """`catrack import caiman`'s result line says "CaImAn" (before h21: "4 caiman components");
    the CLI word stays lower case."""
    capsys.readouterr()
    path = _caiman(tmp_path / "a.hdf5", _cells())
    assert main(["import", "caiman", str(path), "-o", str(tmp_path / "a")]) == 0
    assert capsys.readouterr().out.startswith("4 CaImAn components (4 accepted) -> ")


def _blobs(dtype) -> np.ndarray:
    """Four round cells (Gaussian weights, each of unit norm as CaImAn's A), computed in `dtype`:
    in float32 the tails under about 1e-45 are 0, in float64 they are not."""
    yy, xx = np.mgrid[: DIMS[0], : DIMS[1]].astype(dtype)
    out = []
    for cy, cx, sd in [(4, 6, 1.5), (13, 24, 2.0), (15, 6, 1.7), (3, 18, 1.2)]:
        g = np.exp(-((yy - dtype(cy)) ** 2 + (xx - dtype(cx)) ** 2) / dtype(2 * sd * sd))
        out.append(g / np.sqrt((g * g).sum()))
    return np.stack(out)


def test_a_rerun_whose_footprints_differ_by_float_rounding_keeps_each_verdict(tmp_path, capsys):
    """Another run of a tool in float32 (or with another BLAS) gives the same cells with weights
    a few float32 steps apart, and leaves out tail pixels that weigh less than float32 resolves
    beside the peak (1e-7 of it). Before h22 a verdict followed only the very same pixels, so
    such a run dropped every hand verdict. Twins (two old cells on one footprint) still keep
    neither, and a pixel removed (a reshaped cell) still drops its cell's verdict."""
    fp = _blobs(np.float64)
    fp[1] = fp[0]  # old cells 0 and 1: one footprint (a tool's duplicate)
    _import(tmp_path, _caiman(tmp_path / "a.hdf5", fp), "a", capsys)
    s = Session.load(tmp_path / "s.catrack.h5")
    for i, status in enumerate(["rejected", "accepted", "rejected", "accepted"]):
        set_verdict(s, i, status, "by hand")
    s.save()
    again = _blobs(np.float32)[[3, 2, 0]]  # the duplicate once, cells in another order
    again *= 1 + np.random.default_rng(3).uniform(-3e-6, 3e-6, again.shape).astype(np.float32)  # fmt: skip
    again[again < 1e-7 * again.max(axis=(1, 2), keepdims=True)] = 0  # under float32's resolution
    assert (again > 0).sum() < (fp[[3, 2, 0]] > 0).sum()  # pixels left out: not the same pixels
    err = _import(tmp_path, _caiman(tmp_path / "b.hdf5", again, seed=1), "b", capsys)
    assert _hand(Session.load(tmp_path / "s.catrack.h5")) == {"0": "accepted", "1": "rejected"}
    assert "2 hand verdicts on cells this import no longer has were dropped: ids 0, 1" in err
    assert "ids 0, 1 had one footprint" in err
    reshaped = again.copy()  # the old cell 3 (now 0) without its peak pixel: another footprint
    reshaped[0, 3, 18] = 0
    err = _import(tmp_path, _caiman(tmp_path / "c.hdf5", reshaped, seed=2), "c", capsys)
    assert _hand(Session.load(tmp_path / "s.catrack.h5")) == {"1": "rejected"}
    assert "1 hand verdict on a cell this import no longer has was dropped: id 0" in err

"""Session 22's two-photon import leftovers: `--fps` against the session's rate, tool names in
the frame-rate warnings, the dF/F window option, CaImAn's discarded components, suite2p's
`iscell` probability."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from napari_catrack.cli import main
from napari_catrack.io.tool_outputs import read_at_rate_in_force
from tests.core.test_imports import DATA, _write_caiman, _write_suite2p


def _recording_session(tmp_path, fps=30.0):
    """A session whose recording (60 frames of 24 x 32) states `fps`."""
    import tifffile

    movie = tmp_path / "movie.tif"
    frames = np.random.default_rng(0).integers(0, 100, (60, 24, 32)).astype(np.uint16)
    tifffile.imwrite(movie, frames, imagej=True, metadata={"finterval": 1 / fps, "axes": "TYX"})
    sess = tmp_path / "movie.catrack.h5"
    assert main(["register", str(movie), "--mode", "rigid", "-o", str(tmp_path / "reg.tif"),
                 "--shifts", str(tmp_path / "sh.csv"), "--session", str(sess)]) == 0  # fmt: skip
    return sess


def test_import_fps_that_contradicts_the_sessions_rate_is_said(tmp_path, capsys):
    """`catrack import TOOL --session S --fps F`: F was used without a word when the session's
    recording runs at another rate (the import's times then disagree with the session's other
    steps). Now a warning names both; F is still used (an explicit option wins, as for
    `catrack transients`). A --fps equal to the session's rate but for rounding says nothing."""
    from napari_catrack.session import Session

    sess = _recording_session(tmp_path)
    _write_suite2p(tmp_path / "s2p" / "plane0", ly=24, lx=32)  # suite2p's fs: 15 Hz
    capsys.readouterr()
    argv = ["import", "suite2p", str(tmp_path / "s2p"), "--session", str(sess)]
    assert main([*argv, "--fps", "10", "-o", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert ("catrack import: warning: --fps 10 differs from the session's frame rate 30 Hz (from "
            "the session's recording): the import is recorded at 10 Hz") in err  # fmt: skip
    assert "leave --fps out to import at 30 Hz" in err
    assert Session.load(sess)["sources"].attrs["fps"] == 10.0  # used, as said
    # the session's rate, rounded: no warning
    assert main([*argv, "--fps", "30.01", "-o", str(tmp_path / "b")]) == 0
    assert "differs from the session's frame rate" not in capsys.readouterr().err
    # without a session nothing to compare with
    assert main(["import", "suite2p", str(tmp_path / "s2p"), "--fps", "10", "-o", str(tmp_path / "c")]) == 0  # fmt: skip
    assert "session's frame rate" not in capsys.readouterr().err


def test_frame_rate_warnings_name_the_tool_as_its_authors_do(tmp_path):
    """The rate-in-force warning said "caiman stored a frame rate ..." and "minian stored no
    frame rate": the other messages say CaImAn and Minian."""
    A = sparse.csc_matrix(np.eye(600)[:, :2])
    C = np.abs(np.random.default_rng(1).normal(size=(2, 40))) + 1
    _write_caiman(tmp_path / "r.hdf5", A, C, (20, 30), fr=15.0)
    res = read_at_rate_in_force("caiman", tmp_path / "r.hdf5", 30.0, "from the recording")
    said = " ".join(res.warnings)
    assert "CaImAn stored a frame rate of 15 Hz but 30 Hz (from the recording) is in force" in said
    assert "If CaImAn's 15 Hz is right" in said and "caiman" not in said
    res = read_at_rate_in_force("minian", DATA / "minian" / "zarr", 30.0, "from the recording")
    assert "Minian stored no frame rate: the 30 Hz in force (from the recording) is used" in res.warnings  # fmt: skip


def test_import_sets_the_dff_baseline_window(tmp_path):
    """`catrack import --baseline-window-s W`: no option set an import's dF/F window (the
    `SourcesParams` default, 30 s, was always used). Now W makes the dF/F, and the session's
    provenance and footprints.h5 record it; without it, the dataclass's default is recorded."""
    import h5py as h5

    from napari_catrack.core.sources.params import SourcesParams
    from napari_catrack.io.suite2p import read_suite2p
    from napari_catrack.session import Session

    _write_suite2p(tmp_path / "s2p" / "plane0", t=300)  # 20 s at suite2p's 15 Hz
    sess = tmp_path / "s.catrack.h5"
    argv = ["import", "suite2p", str(tmp_path / "s2p")]
    assert main([*argv, "--baseline-window-s", "2", "-o", str(tmp_path / "a"), "--session", str(sess)]) == 0  # fmt: skip
    made = Session.load(sess)["sources"].params["import"]
    assert made["baseline_window_s"] == 2.0
    with h5.File(tmp_path / "a" / "footprints.h5", "r") as f:
        assert f.attrs["baseline_window_s"] == 2.0
    want = read_suite2p(tmp_path / "s2p", baseline_window_s=2.0)
    default = read_suite2p(tmp_path / "s2p")
    got = Session.load(sess)["traces"].tables["traces"]
    dff = np.stack([g["dff"].to_numpy() for _, g in got.groupby("neuron_id", sort=True)])
    np.testing.assert_allclose(dff, want.dff, rtol=1e-6, atol=1e-9)
    assert not np.allclose(want.dff, default.dff)  # the window changes dF/F
    assert main([*argv, "-o", str(tmp_path / "b"), "--session", str(sess)]) == 0
    default_window = SourcesParams().baseline_window_s
    assert Session.load(sess)["sources"].params["import"]["baseline_window_s"] == default_window


def _selected_caiman(path, *, evaluated=True):
    """A CaImAn result saved after `estimates.select_components(use_object=True)`: components
    0 and 1 kept, the rejected one (a 3 x 3 square at rows 10-12, columns 20-22) set aside in
    /estimates/discarded_components with its C, YrA, S and r_values (CaImAn's field list)."""
    import h5py as h5

    dims = (20, 30)
    fp = np.zeros((3, *dims))
    fp[0, 2:5, 3:8] = 1.0
    fp[1, 14:18, 5:9] = 1.0
    fp[2, 10:13, 20:23] = 2.0  # the discarded one
    A = sparse.csc_matrix(np.stack([f.ravel(order="F") for f in fp], axis=1))
    rng = np.random.default_rng(5)
    C = np.abs(rng.normal(size=(3, 40))) + 1
    yra = rng.normal(0, 0.1, (3, 40))
    _write_caiman(path, A[:, :2], C[:2], dims, yra=yra[:2])
    with h5.File(path, "a") as f:
        if evaluated:
            f["/estimates/r_values"] = np.array([0.9, 0.8])
            f["/estimates/cnn_preds"] = np.array([0.95, 0.7])
        bad = A[:, 2:].tocsc()
        for key, val in (("data", bad.data), ("indptr", bad.indptr), ("indices", bad.indices), ("shape", bad.shape)):  # fmt: skip
            f[f"/estimates/discarded_components/A/{key}"] = val
        f["/estimates/discarded_components/C"] = C[2:]
        f["/estimates/discarded_components/YrA"] = yra[2:]
        f["/estimates/discarded_components/r_values"] = np.array([0.1])
        f["/estimates/discarded_components/cnn_preds"] = np.array([0.05])
        f["/estimates/discarded_components/idx_components"] = "NoneType"
    return fp, C, yra


def test_caiman_set_aside_components_are_imported_rejected_for_review(tmp_path, capsys):
    """CaImAn's components set aside by `select_components` were left out of the import (a note
    said so), so they could not be reviewed. Now they are imported after the kept ones (ids 2..,
    the order of CaImAn's `restore_discarded_components`), rejected with the reason that says
    CaImAn set them aside; the user can accept them, and the kept ones keep ids and verdicts."""
    from napari_catrack.core.sources.session import set_verdict, status_of
    from napari_catrack.io.caiman import read_caiman
    from napari_catrack.io.sources import read_sources
    from napari_catrack.session import Session

    SET_ASIDE = "discarded by CaImAn's select_components"  # (io.caiman.SET_ASIDE)
    fp, C, yra = _selected_caiman(tmp_path / "r.hdf5")
    res = read_caiman(tmp_path / "r.hdf5")
    comps = res.components
    assert comps["neuron_id"].tolist() == [0, 1, 2]
    assert comps["accepted"].tolist() == [True, True, False]
    assert comps["reason"].tolist() == ["", "", SET_ASIDE]
    np.testing.assert_allclose(res.footprints[2], fp[2] / 2)  # peak 1, in its place (F order)
    np.testing.assert_allclose(res.raw, C + yra)
    np.testing.assert_allclose(comps["r_value"], [0.9, 0.8, 0.1])
    np.testing.assert_allclose(comps["tool_probability"], [0.95, 0.7, 0.05])  # cnn_preds
    assert tuple(comps.loc[2, ["y", "x"]]) == pytest.approx((11, 21))
    sess = tmp_path / "s.catrack.h5"
    assert main(["import", "caiman", str(tmp_path / "r.hdf5"), "-o", str(tmp_path / "o"), "--session", str(sess)]) == 0  # fmt: skip
    out = capsys.readouterr()
    assert out.out.startswith("3 CaImAn components (2 accepted)")
    assert "1 component(s) set aside by select_components imported for review" in out.err
    written = read_sources(tmp_path / "o").components
    assert written["accepted"].tolist() == [True, True, False]
    assert written["reason"].tolist()[2] == SET_ASIDE
    session = Session.load(sess)
    assert status_of(session, [0, 1, 2])[2] == ("rejected", "auto: " + SET_ASIDE)
    set_verdict(session, 2, "accepted")  # reviewed: kept
    assert status_of(session, [2]) == [("accepted", "")]
    comps = session["sources"].tables["components"]  # CaImAn's own decision stays visible
    assert not bool(comps["accepted"].iloc[2]) and comps["reason"].iloc[2] == SET_ASIDE


def test_caiman_set_aside_components_that_cannot_be_read_are_said(tmp_path):
    """Set-aside components whose traces are missing: the kept ones are imported, and a
    warning says why the others were not."""
    import h5py as h5

    from napari_catrack.io.caiman import read_caiman

    _selected_caiman(tmp_path / "r.hdf5")
    with h5.File(tmp_path / "r.hdf5", "a") as f:
        del f["/estimates/discarded_components/C"]
    res = read_caiman(tmp_path / "r.hdf5")
    assert len(res.components) == 2 and res.components["accepted"].all()
    assert any("were not imported: it has no traces (C)" in w for w in res.warnings)


def test_suite2p_iscell_probability_is_kept_in_the_table_and_the_nwb_file(tmp_path):
    """suite2p's iscell.npy column 1 (the classifier's probability that the ROI is a cell) was
    dropped: only column 0, the verdict, became `accepted`. Now it is `tool_probability` in
    the components (components.csv, the session) and a PlaneSegmentation column of the NWB
    export, read here from the real suite2p 0.14.6 output of tests/data."""
    pynwb = pytest.importorskip("pynwb")
    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.io.sources import read_sources
    from napari_catrack.session import Session
    from tests.core.test_suite2p_volume import real_planes

    from ._session_helpers import NWB_METADATA

    root = real_planes(tmp_path / "s2p", n=2)
    iscell = {p: np.load(root / "suite2p" / f"plane{p}" / "iscell.npy") for p in (0, 1)}
    iscell[1][:, 1] = 1 - iscell[1][:, 1]  # plane 1's differ from plane 0's
    np.save(root / "suite2p" / "plane1" / "iscell.npy", iscell[1])
    want = np.concatenate([iscell[0][:, 1], iscell[1][:, 1]])
    assert 0 < want.min() < want.max() < 1  # probabilities, not verdicts
    sess = tmp_path / "s.catrack.h5"
    assert main(["import", "suite2p", str(root), "-o", str(tmp_path / "o"), "--session", str(sess)]) == 0  # fmt: skip
    np.testing.assert_allclose(read_sources(tmp_path / "o").components["tool_probability"], want)
    session = Session.load(sess)
    np.testing.assert_allclose(session["sources"].tables["components"]["tool_probability"], want)
    out = write_nwb(session, tmp_path / "s.nwb", metadata=NWB_METADATA)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        segs = io.read().processing["ophys"]["ImageSegmentation"].plane_segmentations
        for p in (0, 1):
            seg = segs[f"PlaneSegmentation_plane{p}"]
            assert "iscell.npy" in seg["tool_probability"].description
            np.testing.assert_allclose(np.asarray(seg["tool_probability"].data[:], float), iscell[p][:, 1])  # fmt: skip


def test_a_tools_accept_is_not_a_verdict_and_its_reject_is(tmp_path):
    """docs/two_photon.md, "Accepted is not verified": a cell the tool accepted has no verdict
    (`unverified`, as cells.csv says) but shows as accepted in the export's components
    (`verdict`); a cell it rejected is rejected at once ("auto: rejected by suite2p")."""
    from napari_catrack.core.sources.session import (
        components_with_verdicts,
        record_sources,
        status_of,
    )
    from napari_catrack.io.suite2p import read_suite2p
    from napari_catrack.session import Session

    _write_suite2p(tmp_path / "s2p" / "plane0")  # iscell: ROI 0 a cell, ROI 1 not
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_sources(session, read_suite2p(tmp_path / "s2p"), origin="suite2p")
    assert status_of(session, [0, 1]) == [("unverified", ""), ("rejected", "auto: rejected by suite2p")]  # fmt: skip
    comps = components_with_verdicts(session)
    assert comps["accepted"].tolist() == [True, False]
    assert comps["verdict"].tolist() == ["accepted", "rejected"]


def test_imagej_import_follows_the_sessions_rate_as_the_other_tools(tmp_path, capsys):
    """`catrack import imagej --session S --fps F` was not checked against the session's rate
    (only against the rate the movie states) and, without --fps, took the movie's rate over a
    rate set in the session. Now it follows the other tools' rule (h22): a differing --fps is
    used with the warning naming the session's rate; without --fps the session's rate is in force."""
    import roifile

    from napari_catrack.session import Session

    sess = _recording_session(tmp_path)  # the recording states 30 Hz
    roi = tmp_path / "roi.zip"
    roifile.roiwrite(roi, [roifile.ImagejRoi.frompoints(np.array([[4.0, 3], [10, 3], [10, 8], [4, 8]]), name="a")])  # fmt: skip
    argv = ["import", "imagej", str(roi), "--movie", str(tmp_path / "movie.tif"), "--session", str(sess)]  # fmt: skip
    capsys.readouterr()
    assert main([*argv, "--fps", "10", "-o", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert ("catrack import: warning: --fps 10 differs from the session's frame rate 30 Hz (from "
            "the session's recording): the import is recorded at 10 Hz") in err  # fmt: skip
    assert Session.load(sess)["sources"].attrs["fps"] == 10.0
    assert main([*argv, "--fps", "30.01", "-o", str(tmp_path / "b")]) == 0  # rounding: unsaid
    assert "session's frame rate" not in capsys.readouterr().err
    s = Session.load(sess)  # a rate typed in a widget is in force over the movie's
    s.record("settings", attrs={"fps": 25.0})
    s.save()
    assert main([*argv, "-o", str(tmp_path / "c")]) == 0
    err = capsys.readouterr().err
    assert Session.load(sess)["sources"].attrs["fps"] == 25.0
    assert (
        "the session's frame rate 25 Hz (set in the session) differs from the 30 Hz the movie "
        "states: 25 Hz is used (give --fps to use another)"
    ) in err, err
    assert "--fps 25" not in err and "(given)" not in err  # no --fps was given
    assert "1 ROI(s) over 60 frames, fs 25 Hz (set in the session)" in err

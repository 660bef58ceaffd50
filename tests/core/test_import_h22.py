"""Session 22's two-photon import leftovers: `--fps` against the session's rate, tool names in
the frame-rate warnings, the dF/F window option, CaImAn's discarded components, suite2p's
`iscell` probability."""

from __future__ import annotations

import numpy as np
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


"""Imports of suite2p, CaImAn and Minian results, each tested on files in the real format.

- suite2p: outputs made by suite2p itself (tests/data/suite2p/make_suite2p_output.py names the
  version) from a synthetic movie whose cells we know;
- CaImAn: HDF5 files written here exactly as CaImAn's `save_dict_to_hdf5` writes a CNMF object
  (CaImAn does not install from PyPI), including one filled with CaImAn's own regression output
  (../shared/data/caiman);
- Minian: zarr folders and a netCDF file written by xarray as Minian's `save_minian` does
  (tests/data/minian/make_minian_output.py).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy import sparse
from scipy.ndimage import label

from napari_catrack.cli import main
from napari_catrack.core.signals.baselines import baseline_running_percentile
from napari_catrack.core.sources.dff import dff_with_background
from napari_catrack.core.sources.scoring import match_centres
from napari_catrack.errors import InputError
from napari_catrack.io.caiman import read_caiman
from napari_catrack.io.minian import read_minian
from napari_catrack.io.sources import read_sources
from napari_catrack.io.suite2p import read_suite2p
from napari_catrack.synthetic import make_two_photon_movie
from tests.conftest import shared_data

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("layout", ["1.x", "old"])
def test_suite2p_outputs_made_by_suite2p(layout):
    folder = DATA / "suite2p" / layout
    if not folder.exists():
        pytest.skip(f"no suite2p {layout} output in tests/data (see make_suite2p_output.py)")
    if layout == "1.x" and int(np.__version__.split(".")[0]) < 2:
        pytest.skip("suite2p 1.x pickled stat.npy under NumPy 2; NumPy 1 cannot unpickle it")
    res = read_suite2p(folder)
    plane = folder / "plane0"
    stat = np.load(plane / "stat.npy", allow_pickle=True)
    F, Fneu = np.load(plane / "F.npy"), np.load(plane / "Fneu.npy")
    iscell = np.load(plane / "iscell.npy")
    assert res.footprints.shape == (len(stat), 64, 64)
    s = stat[0]
    assert np.all(res.footprints[0][s["ypix"], s["xpix"]] > 0)
    np.testing.assert_allclose(res.raw, F - 0.7 * Fneu, rtol=1e-5)
    assert list(res.components["accepted"]) == list(iscell[:, 0] > 0.5)
    assert res.fps == 30.0
    # the movie suite2p ran on (seed 5): its accepted ROIs sit on our true cells
    truth = make_two_photon_movie(300, (64, 64), n_cells=6, seed=5, silent_fraction=0,
                                  cell_brightness=(80, 150), event_rate_hz=(0.3, 0.8)).truth  # fmt: skip
    acc = res.components[res.components["accepted"]]
    i, _ = match_centres(acc[["y", "x"]].to_numpy(), truth.centres, 4.0)
    assert len(i) >= 4


def _write_caiman(path: Path, A: sparse.spmatrix, C, dims, idx=None, fr=30.0, yra=None):
    """A CNMF result as CaImAn's save_dict_to_hdf5 writes it (caiman/utils/utils.py)."""
    A = A.tocsc()
    with h5py.File(path, "w") as f:
        est = f.create_group("estimates")
        for key, val in (("data", A.data), ("indptr", A.indptr), ("indices", A.indices),
                         ("shape", A.shape)):  # fmt: skip
            f[f"/estimates/A/{key}"] = val
        est["C"] = C
        est["S"] = np.maximum(np.diff(C, axis=1, prepend=C[:, :1]), 0)
        est["YrA"] = yra if yra is not None else np.zeros_like(C)
        est["dims"] = np.array(dims)
        est["idx_components"] = "NoneType" if idx is None else np.asarray(idx)
        est["F_dff"] = "NoneType"
        f["/params/data/fr"] = fr
        f["dims"] = np.array(dims)


def test_caiman_fortran_order_and_verdicts(tmp_path):
    dims = (20, 30)
    fp = np.zeros((2, *dims))
    fp[0, 2:5, 3:20] = 1.0  # a horizontal bar: F order matters
    fp[1, 10:18, 25:27] = 2.0
    A = sparse.csc_matrix(np.stack([f.ravel(order="F") for f in fp], axis=1))
    C = np.abs(np.random.default_rng(0).normal(size=(2, 40))) + 1
    _write_caiman(tmp_path / "r.hdf5", A, C, dims, idx=[1])
    res = read_caiman(tmp_path / "r.hdf5")
    np.testing.assert_allclose(res.footprints[0], fp[0])
    np.testing.assert_allclose(res.footprints[1], fp[1] / 2)
    assert list(res.components["accepted"]) == [False, True]
    assert res.components["reason"].iloc[0] == "rejected by CaImAn"
    np.testing.assert_allclose(res.denoised, C)


def test_caiman_without_idx_components_says_nothing_was_evaluated(tmp_path, capsys):
    """A CNMF result saved before evaluate_components has no idx_components: every component is
    kept, and the summary line said "(2 accepted; ...)" as if CaImAn had accepted them."""
    A = sparse.csc_matrix(np.eye(600)[:, :2])
    C = np.abs(np.random.default_rng(1).normal(size=(2, 40))) + 1
    _write_caiman(tmp_path / "r.hdf5", A, C, (20, 30))
    assert main(["import", "caiman", str(tmp_path / "r.hdf5"), "-o", str(tmp_path / "o")]) == 0
    assert "no idx_components (not evaluated in CaImAn): every component accepted" in capsys.readouterr().err  # fmt: skip
    _write_caiman(tmp_path / "e.hdf5", A, C, (20, 30), idx=[0])
    assert "idx_components" not in " ".join(read_caiman(tmp_path / "e.hdf5").notes)


def test_caiman_regression_output_reads_as_compact_cells(tmp_path):
    npz = shared_data("caiman", "groundtruth_demoMovie.npz")
    d = np.load(npz, allow_pickle=True, encoding="latin1")
    A, C = d["A_full"].item(), d["C_full"]
    _write_caiman(tmp_path / "demo.hdf5", A, C, (60, 80))
    res = read_caiman(tmp_path / "demo.hdf5")
    assert res.footprints.shape == (16, 60, 80)
    pieces = [label(f > 0.2 * f.max())[1] for f in res.footprints]
    assert np.median(pieces) == 1  # read in CaImAn's (Fortran) order, footprints are blobs


@pytest.mark.parametrize("form", ["zarr", "minian.nc"])
def test_minian_zarr_and_netcdf(form):
    res = read_minian(DATA / "minian" / form, fps=20)
    assert list(res.components["neuron_id"]) == [3, 5, 8, 13]
    np.testing.assert_allclose(res.denoised, np.load(DATA / "minian" / "truth_C.npy"))
    assert res.footprints.shape == (4, 24, 32)
    assert np.allclose(res.components[["y", "x"]].round().to_numpy(), [[6, 6], [6, 24], [17, 10], [18, 25]])  # fmt: skip


def test_cli_import_and_folders_that_are_not_what_they_claim(tmp_path, capsys):
    assert main(["import", "minian", str(DATA / "minian" / "zarr"), "--fps", "20", "-o", str(tmp_path / "m")]) == 0  # fmt: skip
    files = read_sources(tmp_path / "m")
    assert len(files.components) == 4 and len(files.traces) == 4 * 50
    (tmp_path / "empty").mkdir()
    for tool, path, msg in (
        ("suite2p", tmp_path / "empty", "not a suite2p output folder"),
        ("caiman", DATA / "minian" / "truth_C.npy", "not an HDF5 file"),
        ("minian", tmp_path / "empty", "not a Minian result"),
        ("minian", DATA / "minian" / "zarr", "frame rate"),
    ):
        out = tmp_path / f"out_{tool}"
        code = main(["import", tool, str(path), "-o", str(out)])
        assert code == 2 and msg in capsys.readouterr().err
        assert not out.exists()
    with pytest.raises(InputError, match="no /estimates/A"):
        with h5py.File(tmp_path / "x.hdf5", "w") as f:
            f["a"] = 1
        read_caiman(tmp_path / "x.hdf5")


# --- suite2p: the 1.x layout, inconsistent files, several planes -----------------------------
def _write_suite2p(plane: Path, *, layout="old", coeff=1.0, ops_orig=True, ly=20, lx=30, t=60, seed=0):  # fmt: skip
    """A suite2p plane folder as run_s2p writes it (suite2p/run_s2p.py, pipeline_s2p.py): old
    layout: ops.npy (fs, Ly, Lx, neucoeff); 1.x: db.npy (Ly, Lx), settings.npy (fs,
    extraction.neuropil_coefficient) and, with io.save_ops_orig (default), ops = {**db, **settings}."""
    rng = np.random.default_rng(seed)
    plane.mkdir(parents=True)
    stat = []
    for cy, cx in ((5, 6), (12, 22)):
        yy, xx = np.mgrid[cy - 2 : cy + 3, cx - 3 : cx + 4]
        stat.append({"ypix": yy.ravel(), "xpix": xx.ravel(), "lam": np.ones(yy.size, np.float32),
                     "med": [cy, cx], "npix": yy.size})  # fmt: skip
    np.save(plane / "stat.npy", np.array(stat, dtype=object))
    F = 100 + rng.normal(0, 2, (2, t))
    F[:, 20:25] += 50
    fneu = 40 + rng.normal(0, 1, (2, t))
    np.save(plane / "F.npy", F.astype(np.float32))
    np.save(plane / "Fneu.npy", fneu.astype(np.float32))
    np.save(plane / "spks.npy", np.zeros((2, t), np.float32))
    np.save(plane / "iscell.npy", np.array([[1, 0.9], [0, 0.2]]))
    if layout == "old":
        np.save(plane / "ops.npy", {"fs": 15.0, "Ly": ly, "Lx": lx, "neucoeff": coeff})
    else:
        db = {"Ly": ly, "Lx": lx, "nplanes": 1, "save_path": str(plane)}
        settings = {"fs": 15.0, "tau": 1.0, "io": {"save_ops_orig": ops_orig},
                    "extraction": {"neuropil_coefficient": coeff, "neuropil_extract": True}}  # fmt: skip
        np.save(plane / "db.npy", db)
        np.save(plane / "settings.npy", settings)
        if ops_orig:
            np.save(plane / "ops.npy", {**db, **settings, "meanImg": np.ones((ly, lx))})
    return F.astype(np.float32), fneu.astype(np.float32)


@pytest.mark.parametrize("ops_orig", [True, False])
def test_suite2p_1x_coefficient_and_frame_rate_from_settings(tmp_path, ops_orig):
    F, fneu = _write_suite2p(tmp_path / "suite2p" / "plane0", layout="1.x", ops_orig=ops_orig)
    res = read_suite2p(tmp_path)
    np.testing.assert_allclose(res.raw, F - 1.0 * fneu, rtol=1e-6)
    assert res.fps == 15.0 and res.footprints.shape == (2, 20, 30)
    where = "suite2p/plane0/" + ("ops.npy" if ops_orig else "settings.npy")
    assert f"raw = F - 1 * Fneu (neuropil coefficient from {where} extraction.neuropil_coefficient)" in res.notes  # fmt: skip
    assert f"fs 15 Hz (from {where})" in res.notes and not res.warnings
    # a coefficient nowhere: suite2p's default, said as a warning; a given fps that disagrees too
    s = np.load(tmp_path / "suite2p/plane0/settings.npy", allow_pickle=True).item()
    s.pop("extraction")
    np.save(tmp_path / "suite2p/plane0/settings.npy", s)
    (tmp_path / "suite2p/plane0/ops.npy").unlink(missing_ok=True)
    res = read_suite2p(tmp_path, fps=30)
    np.testing.assert_allclose(res.raw, F - 0.7 * fneu, rtol=1e-6)
    assert res.fps == 30 and any("0.7" in w and "default" in w for w in res.warnings)
    assert any("30 Hz given" in w and "15 Hz" in w for w in res.warnings)


def test_suite2p_option_files_are_named_from_the_folder_given(tmp_path, capsys):
    """A single-plane import said `fs 15 Hz (from ops.npy)` whichever folder was given, a
    multi-plane one `plane0/ops.npy`: the option files are named from the folder given. The
    result line is on stdout, as every command's; the notes stay on stderr (h18)."""
    _write_suite2p(tmp_path / "suite2p" / "plane0", layout="old")
    for given, where in ((tmp_path, "suite2p/plane0/"), (tmp_path / "suite2p", "plane0/"),
                         (tmp_path / "suite2p" / "plane0", "")):  # fmt: skip
        res = read_suite2p(given)
        assert f"fs 15 Hz (from {where}ops.npy)" in res.notes, (given, res.notes)
        assert f"raw = F - 1 * Fneu (neuropil coefficient from {where}ops.npy neucoeff)" in res.notes  # fmt: skip
    assert "fs 15 Hz (from plane0/ops.npy)" in read_suite2p(tmp_path / "suite2p", plane=0).notes
    out = tmp_path / "out"
    assert main(["import", "suite2p", str(tmp_path / "suite2p"), "-o", str(out)]) == 0
    said = capsys.readouterr()
    assert said.out == f"2 suite2p components (1 accepted) -> {out}\n", said
    assert "catrack import: fs 15 Hz (from plane0/ops.npy)\n" in said.err, said.err


def test_suite2p_inconsistent_files_are_one_line_errors(tmp_path, capsys):
    cases = {
        "fneu": (
            "Fneu.npy",
            lambda p: np.save(p, np.zeros((2, 40), np.float32)),
            "Fneu.npy is (2, 40) but stat.npy has 2 ROIs and F.npy 60 frames",
        ),
        "iscell1d": (
            "iscell.npy",
            lambda p: np.save(p, np.array([1.0, 0.0])),
            "iscell.npy is (2,); it should be (ROIs, 2)",
        ),
        "small_ops": (
            "ops.npy",
            lambda p: np.save(p, {"fs": 15.0, "Ly": 10, "Lx": 30, "neucoeff": 0.7}),
            "outside the 10 x 30 frame of ops.npy: ops and stat come from different runs",
        ),
        "text_fs": (
            "ops.npy",
            lambda p: np.save(p, {"fs": "15", "Ly": 20, "Lx": 30, "neucoeff": 0.7}),
            "no frame rate (fs): give it (--fps)",
        ),
    }
    for case, (name, spoil, msg) in cases.items():
        plane = tmp_path / case / "plane0"
        _write_suite2p(plane)
        spoil(plane / name)
        out = tmp_path / f"out_{case}"
        assert main(["import", "suite2p", str(tmp_path / case), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()


def test_suite2p_without_fneu_or_spks_says_what_raw_is(tmp_path, capsys):
    """Without Fneu.npy the import used zeros for it and its summary line still said "raw = F -
    0.7 * Fneu": raw is F, said as a warning; without spks.npy the empty spikes are a note."""
    F, _ = _write_suite2p(tmp_path / "suite2p" / "plane0")
    (tmp_path / "suite2p/plane0/Fneu.npy").unlink()
    (tmp_path / "suite2p/plane0/spks.npy").unlink()
    res = read_suite2p(tmp_path)
    np.testing.assert_allclose(res.raw, F, rtol=1e-6)
    assert any("no Fneu.npy: raw = F, no neuropil subtracted" in w for w in res.warnings)
    assert not any("Fneu (neuropil coefficient" in n for n in res.notes)
    assert "no spks.npy: the spikes column is empty" in res.notes
    assert main(["import", "suite2p", str(tmp_path), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "no Fneu.npy" in err and "F - 1 * Fneu" not in err, err
    assert read_sources(tmp_path / "out").traces["spikes"].isna().all()


def test_suite2p_several_planes(tmp_path, capsys):
    F0, _ = _write_suite2p(tmp_path / "suite2p" / "plane0", seed=0)
    F1, _ = _write_suite2p(tmp_path / "suite2p" / "plane1", seed=1)
    res = read_suite2p(tmp_path, plane=0)  # plane 0 asked: plane 0 alone, nothing to warn of
    np.testing.assert_allclose(res.raw[:, 0] + 1.0 * np.load(tmp_path / "suite2p/plane0/Fneu.npy")[:, 0], F0[:, 0], rtol=1e-6)  # fmt: skip
    assert len(res.components) == 2 and not res.warnings
    assert len(read_suite2p(tmp_path).components) == 4  # no plane asked: every plane
    assert not read_suite2p(tmp_path / "suite2p" / "plane1").warnings  # a plane folder given
    assert main(["import", "suite2p", str(tmp_path), "--plane", "1", "-o", str(tmp_path / "p1")]) == 0  # fmt: skip
    assert "warning" not in capsys.readouterr().err
    raw = read_sources(tmp_path / "p1").traces.pivot(index="neuron_id", columns="frame", values="raw").to_numpy()  # fmt: skip
    np.testing.assert_allclose(raw, F1 - np.load(tmp_path / "suite2p/plane1/Fneu.npy"), rtol=1e-5)
    assert main(["import", "suite2p", str(tmp_path), "--plane", "2", "-o", str(tmp_path / "p2")]) == 2  # fmt: skip
    assert "has no plane2 with stat.npy: its planes are 0, 1" in capsys.readouterr().err
    assert main(["import", "caiman", str(tmp_path), "--plane", "1", "-o", str(tmp_path / "c")]) == 2
    assert "--plane is for suite2p" in capsys.readouterr().err


# --- dF/F of outputs whose traces have no baseline (CNMF's C) --------------------------------
def _cnmf_like(k=3, t=600, fps=15.0, seed=0):
    """C >= 0 on a baseline of ~0 (CNMF puts the baseline in the background), YrA noise."""
    rng = np.random.default_rng(seed)
    C = np.zeros((k, t))
    for i in range(k):
        for s in range(30 + 17 * i, t, 70):
            C[i, s:] += 30 * np.exp(-np.arange(t - s) / (1.0 * fps))
    return C, rng.normal(0, 1.0, (k, t))


def test_dff_falls_back_to_df_without_a_usable_baseline():
    C, yra = _cnmf_like()
    raw = C + yra
    notes: list[str] = []
    dff = dff_with_background(raw, None, 15.0, notes=notes, ids=[4, 5, 6])
    assert np.all(np.isfinite(dff))
    np.testing.assert_allclose(dff, raw - baseline_running_percentile(raw, 15.0), atol=1e-9)
    assert len(notes) == 1 and "3 of 3 cells" in notes[0] and "dF" in notes[0] and "4, 5, 6" in notes[0]  # fmt: skip
    notes = []
    dff = dff_with_background(raw, np.full_like(raw, 100.0), 15.0, baseline="caiman", notes=notes)
    assert not notes and np.all(np.isfinite(dff))
    slope, icpt = np.polyfit((C / 100).ravel(), dff.ravel(), 1)
    assert abs(slope - 1) < 0.05 and abs(icpt) < 0.01


def test_dff_of_a_trace_with_missing_frames_warns_nothing(recwarn):
    raw = np.random.default_rng(0).normal(50, 1, (3, 200))
    raw[1], raw[2, 5:9] = np.nan, np.nan  # a lost trace, a few lost frames
    dff = dff_with_background(raw, None, 10.0, notes=[])
    assert np.isnan(dff).sum(axis=1).tolist() == [0, 200, 4]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_caiman_dff_uses_the_stored_background(tmp_path, capsys):
    dims, t = (20, 30), 600
    fp = np.zeros((3, *dims))
    fp[0, 2:7, 3:9] = fp[1, 10:16, 5:12] = fp[2, 12:18, 20:28] = 1.0  # flat: a·b/|a|^2 = b
    A = sparse.csc_matrix(np.stack([f.ravel(order="F") for f in fp], axis=1))
    C, yra = _cnmf_like(t=t)
    _write_caiman(tmp_path / "r.hdf5", A, C, dims, fr=15.0, yra=yra)
    with h5py.File(tmp_path / "r.hdf5", "a") as f:  # b (pixels, nb), f (nb, T) as CNMF keeps them
        f["/estimates/b"] = np.full((dims[0] * dims[1], 1), 100.0)
        f["/estimates/f"] = np.ones((1, t))
    res = read_caiman(tmp_path / "r.hdf5")
    truth = C / 100.0  # dF/F at every pixel of the cell: C over the 100 counts it sits on
    assert np.all(np.isfinite(res.dff)) and not res.warnings
    for i in range(3):
        slope, icpt = np.polyfit(truth[i], res.dff[i], 1)
        assert abs(slope - 1) < 0.05 and abs(icpt) < 0.01, (i, slope, icpt)
    assert abs(res.dff.max() - truth.max()) < 0.05 * truth.max()
    assert any("30 Hz given" in w and "says 15 Hz" in w for w in read_caiman(tmp_path / "r.hdf5", fps=30).warnings)  # fmt: skip
    # without b, f (CNMF-E): dF, finite, said
    with h5py.File(tmp_path / "r.hdf5", "a") as f:
        del f["/estimates/b"], f["/estimates/f"]
    assert main(["import", "caiman", str(tmp_path / "r.hdf5"), "-o", str(tmp_path / "o")]) == 0
    assert "warning: 3 of 3 cells have no baseline" in capsys.readouterr().err
    dff = read_sources(tmp_path / "o").traces["dff"]
    assert np.all(np.isfinite(dff))


def test_caiman_inconsistent_arrays_are_one_line_errors(tmp_path, capsys):
    dims = (10, 12)
    A = sparse.csc_matrix(np.eye(120)[:, :3])
    C = np.ones((3, 40))
    for case, kw, msg in (
        ("yra", {"yra": np.zeros((3, 30))}, "/estimates/YrA is (3, 30) but C (3, 40)"),
        ("idx", {"idx": [0, 2, 7]}, "idx_components holds 7, but there are 3 components (0 to 2)"),
    ):
        _write_caiman(tmp_path / f"{case}.hdf5", A, C, dims, **kw)
        out = tmp_path / f"out_{case}"
        assert main(["import", "caiman", str(tmp_path / f"{case}.hdf5"), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()


# --- Minian: units matched by unit_id, zarr v3, the background -------------------------------
def _minian_var(folder: Path, name: str, data, dims, coords, zarr_format=2):
    """One `save_minian` store as xarray's to_zarr writes it: the variable and its coordinates,
    dimension names in `_ARRAY_DIMENSIONS` (zarr v2) or in zarr.json `dimension_names` (v3)."""
    import zarr

    group = zarr.open_group(str(folder / f"{name}.zarr"), mode="w", zarr_format=zarr_format)
    for key, arr, names in [(name, np.asarray(data), dims)] + [(c, np.asarray(v), (c,)) for c, v in coords.items()]:  # fmt: skip
        kw = {"dimension_names": list(names)} if zarr_format == 3 else {}
        z = group.create_array(key, shape=arr.shape, dtype=arr.dtype, **kw)
        z[...] = arr
        if zarr_format == 2:
            z.attrs["_ARRAY_DIMENSIONS"] = list(names)


def _minian_result(folder: Path, order=None, zarr_format=2, background=True, c_units=None):
    h, w, t = 16, 20, 600
    units = np.array([3, 8, 11])
    fp = np.zeros((3, h, w))
    fp[0, 1:5, 2:7] = fp[1, 8:13, 3:8] = fp[2, 6:11, 12:18] = 1.0
    C, _ = _cnmf_like(t=t)
    idx = np.arange(3) if order is None else np.asarray(order)
    cu = units[idx] if c_units is None else np.asarray(c_units)
    folder.mkdir(parents=True, exist_ok=True)
    kw = {"zarr_format": zarr_format}
    _minian_var(folder, "A", fp, ("unit_id", "height", "width"), {"unit_id": units, "height": np.arange(h), "width": np.arange(w)}, **kw)  # fmt: skip
    tc = {"unit_id": cu, "frame": np.arange(t)}
    _minian_var(folder, "C", C[idx], ("unit_id", "frame"), tc, **kw)
    _minian_var(folder, "S", np.diff(C, prepend=0)[idx], ("unit_id", "frame"), tc, **kw)
    if background:  # b0 (a baseline of 20 per unit) + b f (80 counts): 100 under each cell
        _minian_var(folder, "b0", np.full((3, t), 20.0)[idx], ("unit_id", "frame"), tc, **kw)
        _minian_var(folder, "b", np.full((h, w), 80.0), ("height", "width"), {"height": np.arange(h), "width": np.arange(w)}, **kw)  # fmt: skip
        _minian_var(folder, "f", np.ones(t), ("frame",), {"frame": np.arange(t)}, **kw)
    return C, fp


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_minian_traces_follow_unit_id_and_use_the_background(tmp_path, zarr_format):
    C, fp = _minian_result(tmp_path, order=[2, 0, 1], zarr_format=zarr_format)
    res = read_minian(tmp_path, fps=15)
    assert list(res.components["neuron_id"]) == [3, 8, 11]
    np.testing.assert_allclose(res.denoised, C)  # each unit's trace, in A's order
    np.testing.assert_allclose(res.footprints, fp)
    truth = C / 100.0
    assert np.all(np.isfinite(res.dff)) and not res.warnings
    assert np.max(np.abs(res.dff - truth)) < 0.05 * truth.max()  # C is rarely at rest: F0 ~ 0.01


def test_minian_different_units_and_a_store_given_are_one_line_errors(tmp_path, capsys):
    _minian_result(tmp_path / "m", c_units=[3, 8, 12])
    out = tmp_path / "o"
    assert main(["import", "minian", str(tmp_path / "m"), "--fps", "15", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "A and C hold different units (3 and 3: units [11] only in A; units [12] only in C)" in err  # fmt: skip
    assert not out.exists()
    assert main(["import", "minian", str(tmp_path / "m" / "A.zarr"), "--fps", "15", "-o", str(out)]) == 2  # fmt: skip
    assert "give the folder that holds A.zarr and C.zarr" in capsys.readouterr().err
    assert not out.exists()


def _large_minian(
    folder: Path, k: int, size: int, order=("unit_id", "height", "width"), chunk=4, px=None
):
    """A Minian result with k 12 x 12 px units on a size x size frame, A stored in `order` in
    chunks of `chunk` units (and px x px pixels, else whole frames) and written a chunk of units
    at a time (the test never holds it dense)."""
    import zarr

    rng = np.random.default_rng(1)
    corners = rng.integers(0, size - 12, (k, 2))
    units, t = np.arange(k) * 2 + 1, 40
    group = zarr.open_group(str(folder / "A.zarr"), mode="w", zarr_format=2)
    axis = order.index("unit_id")
    perm = [("unit_id", "height", "width").index(d) for d in order]
    shape, chunks = [size, size], [px or size, px or size]
    shape.insert(axis, k)
    chunks.insert(axis, chunk)
    a = group.create_array("A", shape=tuple(shape), chunks=tuple(chunks), dtype="f8", fill_value=0.0)  # fmt: skip
    a.attrs["_ARRAY_DIMENSIONS"] = list(order)
    spot = np.outer(np.hanning(14)[1:-1], np.hanning(14)[1:-1])  # 12 x 12, peak < 1
    for u0 in range(0, k, chunk):
        block = np.zeros((min(chunk, k - u0), size, size))
        for j, (y, x) in enumerate(corners[u0 : u0 + chunk]):
            block[j, y : y + 12, x : x + 12] = spot * (1 + (u0 + j) % 3)
        sel = [slice(None)] * 3
        sel[axis] = slice(u0, u0 + len(block))
        a[tuple(sel)] = np.transpose(block, perm)
    for name, arr in (("unit_id", units), ("height", np.arange(size)), ("width", np.arange(size))):
        z = group.create_array(name, shape=arr.shape, dtype=arr.dtype)
        z[...] = arr
        z.attrs["_ARRAY_DIMENSIONS"] = [name]
    C = rng.random((k, t))
    _minian_var(folder, "C", C, ("unit_id", "frame"), {"unit_id": units, "frame": np.arange(t)})
    return corners, spot, units


@pytest.mark.parametrize(
    "order, chunk, px",
    [
        (("unit_id", "height", "width"), 4, None),  # a chunk of 4 whole frames
        (("width", "unit_id", "height"), 4, None),  # stored transposed
        (("unit_id", "height", "width"), 32, 64),  # zarr's own chunking: 32 units x 64 x 64 px
    ],
)
def test_minian_footprints_are_read_a_block_of_units_at_a_time(
    tmp_path, monkeypatch, order, chunk, px
):
    """A is dense on disk (K full frames); it is read into sparse footprints a block of units
    at a time, so peak memory is a few blocks (zarr holds a chunk decoded beside the block it
    fills), not the dense array: here 96 units of 256 x 256 float64, 48 MiB dense, read in
    blocks of 2 MiB (whole stored chunks)."""
    import tracemalloc

    from napari_catrack.io import minian

    k, size = 96, 256
    corners, spot, units = _large_minian(tmp_path, k, size, order=order, chunk=chunk, px=px)
    monkeypatch.setattr(minian, "BLOCK_BYTES", 2 * 2**20, raising=False)  # (old code: none)
    tracemalloc.start()
    try:
        res = read_minian(tmp_path, fps=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    dense = k * size * size * 8
    assert peak < dense / 4, f"peak {peak / 2**20:.0f} MB for a {dense / 2**20:.0f} MB dense A"
    fp = res.footprints
    assert type(fp).__name__ == "Footprints" and fp.shape == (k, size, size)
    assert list(res.components["neuron_id"]) == units.tolist()
    assert fp.matrix.nnz == k * 144  # each unit's 12 x 12 spot, nothing else
    for i in (0, 77, k - 1):  # peak-normalised, in place, in A's unit order
        y, x = corners[i]
        want = np.zeros((size, size), np.float32)
        want[y : y + 12, x : x + 12] = spot / spot.max()
        np.testing.assert_allclose(fp.component(i), want, rtol=1e-6, atol=1e-7)


def test_a_minian_result_with_no_units_reads_as_no_footprints(tmp_path):
    """A run that kept no unit (A is 0 x H x W): read into zero footprints, as before the block
    read (which divided by the block's size, 0 units: ZeroDivisionError)."""
    _large_minian(tmp_path, 0, 64)
    res = read_minian(tmp_path, fps=10)
    assert res.footprints.shape == (0, 64, 64)
    assert len(res.components) == 0


def test_a_stat_npy_pickled_under_numpy_2_says_to_install_numpy_2(tmp_path, monkeypatch):
    """suite2p 1.x pickles stat.npy under NumPy 2; NumPy 1.26 (our lower bound) fails on it with
    "No module named 'numpy._core'", which named no remedy."""
    import napari_catrack.io.suite2p as s2p

    plane = tmp_path / "plane0"
    plane.mkdir()
    for name in ("stat.npy", "F.npy", "Fneu.npy", "iscell.npy", "ops.npy"):
        np.save(plane / name, np.zeros(3))

    def numpy_1_load(path, allow_pickle=False):
        if allow_pickle:
            raise ModuleNotFoundError("No module named 'numpy._core'")
        return np.zeros(3)

    monkeypatch.setattr(s2p.np, "load", numpy_1_load)
    with pytest.raises(InputError, match=r"saved with NumPy 2; .*pip install 'numpy>=2'"):
        read_suite2p(tmp_path)


def test_caiman_after_select_components_says_the_rejected_were_set_aside(tmp_path, capsys):
    """CaImAn's `estimates.select_components(use_object=True)` (in its demo pipeline, before
    `cnm.save`) keeps only the accepted components, sets idx_components to None and, by default,
    keeps the rejected ones in `estimates.discarded_components` (saved as a group). The import
    said "no idx_components (not evaluated in CaImAn)" of such a file, which was evaluated."""
    A = sparse.csc_matrix(np.eye(600)[:, :3])
    C = np.abs(np.random.default_rng(2).normal(size=(3, 40))) + 1
    _write_caiman(tmp_path / "s.hdf5", A[:, :2], C[:2], (20, 30))
    with h5py.File(tmp_path / "s.hdf5", "a") as f:  # as save_dict_to_hdf5 writes an Estimates
        f["/estimates/r_values"] = np.array([0.9, 0.8])
        bad = A[:, 2:].tocsc()
        for key, val in (("data", bad.data), ("indptr", bad.indptr), ("indices", bad.indices),
                         ("shape", bad.shape)):  # fmt: skip
            f[f"/estimates/discarded_components/A/{key}"] = val
        f["/estimates/discarded_components/C"] = C[2:]
        f["/estimates/discarded_components/idx_components"] = "NoneType"
    assert main(["import", "caiman", str(tmp_path / "s.hdf5"), "-o", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "not evaluated" not in err
    assert "select_components" in err and "1 rejected component(s)" in err
    assert "/estimates/discarded_components" in err
    # selected without keeping the rejected ones (save_discarded_components=False): evaluated
    # (r_values), so not "not evaluated" either
    with h5py.File(tmp_path / "s.hdf5", "a") as f:
        del f["/estimates/discarded_components"]
        f["/estimates/discarded_components"] = "NoneType"
    notes = " ".join(read_caiman(tmp_path / "s.hdf5").notes)
    assert "not evaluated" not in notes and "select_components" in notes


def test_cli_import_into_a_recordings_session_uses_the_recordings_rate(tmp_path, capsys):
    """`catrack import suite2p OUT --session movie.catrack.h5` of a 30 Hz recording, where suite2p
    kept its default fs of 10 Hz: the traces were recorded at 10 Hz without a word (every time_s 3x
    too late, transient times and rates off), while the Sources widget uses the recording's rate
    and warns. The CLI now does the same; a Minian import into it needs no --fps."""
    import tifffile

    from napari_catrack.session import Session

    movie = tmp_path / "movie.tif"
    frames = np.random.default_rng(0).integers(0, 100, (60, 24, 32)).astype(np.uint16)
    tifffile.imwrite(movie, frames, imagej=True, metadata={"finterval": 1 / 30, "axes": "TYX"})
    sess = tmp_path / "movie.catrack.h5"
    assert main(["register", str(movie), "--mode", "rigid", "-o", str(tmp_path / "reg.tif"),
                 "--shifts", str(tmp_path / "sh.csv"), "--session", str(sess)]) == 0  # fmt: skip
    _write_suite2p(tmp_path / "s2p" / "plane0", ly=24, lx=32)
    ops = np.load(tmp_path / "s2p/plane0/ops.npy", allow_pickle=True).item()
    np.save(tmp_path / "s2p/plane0/ops.npy", {**ops, "fs": 10.0})  # suite2p's default
    capsys.readouterr()
    assert main(["import", "suite2p", str(tmp_path / "s2p"), "-o", str(tmp_path / "o"), "--session", str(sess)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "suite2p stored a frame rate of 10 Hz but 30 Hz (from the session's recording) is in force" in err  # fmt: skip
    assert "--fps 10" in err  # what to do if suite2p's rate was right
    traces = Session.load(sess)["traces"].tables["traces"]
    assert traces.loc[traces["frame"] == 30, "time_s"].iloc[0] == pytest.approx(1.0)
    # --fps wins, as before
    assert main(["import", "suite2p", str(tmp_path / "s2p"), "-o", str(tmp_path / "o2"), "--fps", "10"]) == 0  # fmt: skip
    # Minian stores no rate: the session's is used, and said
    capsys.readouterr()
    assert main(["import", "minian", str(DATA / "minian" / "zarr"), "-o", str(tmp_path / "m"), "--session", str(sess)]) == 0  # fmt: skip
    assert "Minian stored no frame rate: the 30 Hz in force (from the session's recording) is used" in capsys.readouterr().err  # fmt: skip
    assert Session.load(sess)["sources"].attrs["fps"] == 30.0
    assert main(["import", "minian", str(DATA / "minian" / "zarr"), "-o", str(tmp_path / "m2"), "--session", str(tmp_path / "m.catrack.h5")]) != 0  # fmt: skip
    assert "give it (--fps)" in capsys.readouterr().err  # a new session knows no rate


def test_a_volumetric_caiman_result_is_refused_by_name(tmp_path, capsys):
    """CaImAn's 3-D CNMF keeps dims (d1, d2, d3); the import kept the first two and said "A is
    (4096, 3) but dims (64, 32) and 3 traces", hiding the third dimension it had dropped."""
    A = sparse.csc_matrix(np.eye(64 * 32 * 2)[:, :3])
    C = np.abs(np.random.default_rng(3).normal(size=(3, 40))) + 1
    _write_caiman(tmp_path / "v.hdf5", A, C, (64, 32, 2))
    assert main(["import", "caiman", str(tmp_path / "v.hdf5"), "-o", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err
    assert "3-D" in err and "64 x 32 x 2" in err and "(64, 32)" not in err
    assert not (tmp_path / "o").exists()
